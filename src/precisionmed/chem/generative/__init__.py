"""Generative molecule models: a SMILES CharRNN, a VAE and a LatentGAN, saved as model directories.

:mod:`.vocab` tokenises SMILES (``Cl``, ``Br``, ``[nH]`` whole) or SELFIES; :mod:`.charrnn`,
:mod:`.vae` and :mod:`.latentgan` are the networks (the MOSES CharRNN and VAE designs, and a
WGAN-GP in the VAE's latent space after Prykhodko et al. 2019); :mod:`.training` trains them on
MOSES or a user's SMILES file; :func:`load_generator` reads a saved one back and samples from it
in batches. Torch and RDKit load with the modules that use them.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "CharRNN": "precisionmed.chem.generative.charrnn",
    "MolecularVAE": "precisionmed.chem.generative.vae",
    "LatentGAN": "precisionmed.chem.generative.latentgan",
    "Vocabulary": "precisionmed.chem.generative.vocab",
    "tokenize": "precisionmed.chem.generative.vocab",
    "tokenize_smiles": "precisionmed.chem.generative.vocab",
    "Generator": "precisionmed.chem.generative.generator",
    "SampleResult": "precisionmed.chem.generative.generator",
    "load_generator": "precisionmed.chem.generative.generator",
    "TrainingSmiles": "precisionmed.chem.generative.training",
    "file_training_smiles": "precisionmed.chem.generative.training",
    "moses_training_smiles": "precisionmed.chem.generative.training",
    "train_generator": "precisionmed.chem.generative.training",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'precisionmed.chem.generative' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


__all__ = sorted(_LAZY)

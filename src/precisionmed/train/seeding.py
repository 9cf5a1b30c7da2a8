"""The one place precisionmed seeds its random number generators."""

from __future__ import annotations

from precisionmed.errors import ConfigError

#: NumPy's legacy global seed (which Lightning also sets) takes 32-bit unsigned integers.
MAX_SEED = 2**32 - 1


def seed_everything(seed: int) -> int:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU).

    Lightning's ``seed_everything`` (``workers=True``: DataLoader workers derive their seeds
    from it), without its log line. The engine calls it before it builds or trains anything
    (:func:`~precisionmed.train.fit`, and before every ``build_net()`` of
    :func:`~precisionmed.train.cross_validate`); a pillar that builds a network itself calls it
    before the build, so the initial weights are part of what the seed fixes.

    Parameters
    ----------
    seed : int
        In ``[0, 2**32 - 1]``.

    Returns
    -------
    int
        The seed.

    Raises
    ------
    ConfigError
        ``seed`` is not an integer in that range (Lightning would warn and use 0 instead).
    """
    from lightning.fabric.utilities.seed import seed_everything as lightning_seed

    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ConfigError(f"The seed must be an integer in [0, {MAX_SEED}]. Got {seed!r}.")
    return int(lightning_seed(seed, workers=True, verbose=False))

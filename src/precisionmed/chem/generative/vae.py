"""A SMILES variational autoencoder with GRU encoder and decoder (the MOSES VAE design).

After Gómez-Bombarelli et al. (2018) as MOSES implements it (Polykovskiy et al. 2020,
``moses/vae``): one-hot token embeddings; a 1-layer GRU encoder (256 units, dropout 0.5) whose
last hidden state gives the mean and log-variance of a 128-dimensional Gaussian code; a 3-layer
GRU decoder (512 units) started from a linear map of the code and fed the code beside every
input token; loss = next-token cross entropy + ``w`` x KL(q(z|x) || N(0, I)), the KL weight
``w`` rising linearly from 0 to 0.05 over training (MOSES raises it per epoch, here per
optimisation step over ``kl_anneal_steps``, which the trainer sets to the run's steps). New
molecules are decoded from codes drawn from N(0, I).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from precisionmed.chem.generative.charrnn import NextTokenLoss
from precisionmed.chem.generative.vocab import Vocabulary
from precisionmed.errors import ConfigError


class VAELoss:
    """Reconstruction cross entropy + the (already weighted) KL term the VAE outputs."""

    def __init__(self, pad: int) -> None:
        self.reconstruction = NextTokenLoss(pad)

    def __call__(self, outputs: tuple[torch.Tensor, torch.Tensor], target: torch.Tensor) -> Any:
        logits, kl = outputs
        return self.reconstruction(logits, target) + kl.mean()


class MolecularVAE(nn.Module):
    """Encoder GRU -> Gaussian code -> decoder GRU over the tokens of ``vocabulary``.

    Parameters
    ----------
    vocabulary : Vocabulary
    encoder_hidden, encoder_layers : int
        Encoder GRU (MOSES: 256, 1).
    encoder_bidirectional : bool
        MOSES: False.
    encoder_dropout : float
        Between encoder layers (MOSES: 0.5; no effect with one layer).
    latent_dim : int
        Size of the code (MOSES: 128).
    decoder_hidden, decoder_layers : int
        Decoder GRU (MOSES: 512, 3).
    decoder_dropout : float
        MOSES: 0.
    kl_weight_start, kl_weight_end : float
        The KL weight's linear ramp (MOSES: 0 -> 0.05).
    kl_anneal_steps : int
        Optimisation steps over which the weight rises (then stays at ``kl_weight_end``).

    Notes
    -----
    ``forward(tokens)`` takes ids (B, L) and returns ``(logits, kl)``: next-token logits of
    shape (B, L - 1, V) for ``tokens[:, 1:]`` and the weighted KL term per molecule, shape (B,).
    Each call in training mode counts one optimisation step of the annealing.
    """

    steps: torch.Tensor  # a buffer: optimisation steps taken (the KL annealing's clock)

    def __init__(
        self,
        vocabulary: Vocabulary,
        *,
        encoder_hidden: int = 256,
        encoder_layers: int = 1,
        encoder_bidirectional: bool = False,
        encoder_dropout: float = 0.5,
        latent_dim: int = 128,
        decoder_hidden: int = 512,
        decoder_layers: int = 3,
        decoder_dropout: float = 0.0,
        kl_weight_start: float = 0.0,
        kl_weight_end: float = 0.05,
        kl_anneal_steps: int = 1000,
    ) -> None:
        super().__init__()
        sizes = (encoder_hidden, encoder_layers, latent_dim, decoder_hidden, decoder_layers)
        if min(sizes) < 1 or kl_anneal_steps < 1:
            raise ConfigError(
                "MolecularVAE sizes, layer counts and kl_anneal_steps must be >= 1. Got "
                f"encoder {encoder_hidden}x{encoder_layers}, latent {latent_dim}, decoder "
                f"{decoder_hidden}x{decoder_layers}, kl_anneal_steps {kl_anneal_steps}."
            )
        self.vocabulary = vocabulary
        self.hparams: dict[str, Any] = {
            "encoder_hidden": encoder_hidden,
            "encoder_layers": encoder_layers,
            "encoder_bidirectional": encoder_bidirectional,
            "encoder_dropout": encoder_dropout,
            "latent_dim": latent_dim,
            "decoder_hidden": decoder_hidden,
            "decoder_layers": decoder_layers,
            "decoder_dropout": decoder_dropout,
            "kl_weight_start": kl_weight_start,
            "kl_weight_end": kl_weight_end,
            "kl_anneal_steps": kl_anneal_steps,
        }
        size = len(vocabulary)
        self.embedding = nn.Embedding(size, size, padding_idx=vocabulary.pad)
        with torch.no_grad():  # MOSES starts from one-hot vectors (and trains them)
            self.embedding.weight.copy_(torch.eye(size))
        self.encoder = nn.GRU(
            size,
            encoder_hidden,
            encoder_layers,
            batch_first=True,
            dropout=encoder_dropout if encoder_layers > 1 else 0,
            bidirectional=encoder_bidirectional,
        )
        last = encoder_hidden * (2 if encoder_bidirectional else 1)
        self.to_mu = nn.Linear(last, latent_dim)
        self.to_logvar = nn.Linear(last, latent_dim)
        self.decoder_start = nn.Linear(latent_dim, decoder_hidden)
        self.decoder = nn.GRU(
            size + latent_dim,
            decoder_hidden,
            decoder_layers,
            batch_first=True,
            dropout=decoder_dropout if decoder_layers > 1 else 0,
        )
        self.head = nn.Linear(decoder_hidden, size)
        never = torch.zeros(size, dtype=torch.bool)  # tokens the decoder must never emit
        never[[vocabulary.pad, vocabulary.bos, vocabulary.unk]] = True
        self.register_buffer("never", never, persistent=False)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    @property
    def kl_weight(self) -> float:
        """The KL weight at the current optimisation step."""
        h = self.hparams
        ramp = min(1.0, float(self.steps) / h["kl_anneal_steps"])
        return float(h["kl_weight_start"] + (h["kl_weight_end"] - h["kl_weight_start"]) * ramp)

    def encode(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance of q(z | tokens), each of shape (B, latent_dim)."""
        lengths = (tokens != self.vocabulary.pad).sum(dim=1).clamp(min=1).cpu()
        packed = pack_padded_sequence(
            self.embedding(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, hidden = self.encoder(packed)
        directions = 2 if self.hparams["encoder_bidirectional"] else 1
        last = torch.cat(list(hidden[-directions:]), dim=-1)
        return self.to_mu(last), self.to_logvar(last)

    def _decode_step(
        self, tokens: torch.Tensor, z: torch.Tensor, state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.embedding(tokens)
        inputs = torch.cat([emb, z.unsqueeze(1).expand(-1, emb.shape[1], -1)], dim=-1)
        out, state = self.decoder(inputs, state)
        return self.head(out).masked_fill(self.never, float("-inf")), state

    def _start_state(self, z: torch.Tensor) -> torch.Tensor:
        h0 = self.decoder_start(z)
        return h0.unsqueeze(0).repeat(self.hparams["decoder_layers"], 1, 1).contiguous()

    def forward(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(tokens)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        kl = 0.5 * (logvar.exp() + mu.pow(2) - 1 - logvar).sum(dim=1)
        weight = self.kl_weight
        if self.training:
            self.steps += 1
        inputs = tokens[:, :-1]
        width = max(1, int((inputs != self.vocabulary.pad).sum(dim=1).max()))
        logits, _ = self._decode_step(inputs[:, :width], z, self._start_state(z))
        logits = F.pad(logits, (0, 0, 0, inputs.shape[1] - width))
        return logits, kl * weight

    def loss_function(self) -> VAELoss:
        """The training loss the engine uses (reconstruction + weighted KL)."""
        return VAELoss(self.vocabulary.pad)

    @staticmethod
    def training_inputs(tokens: torch.Tensor) -> torch.Tensor:
        """The encoder reads the whole molecule."""
        return tokens

    def decode(self, z: torch.Tensor, temperature: float = 1.0, max_length: int = 100) -> list[str]:
        """SMILES decoded token by token from codes ``z`` of shape (B, latent_dim)."""
        if temperature <= 0:
            raise ConfigError(f"The sampling temperature must be > 0. Got {temperature}.")
        vocab = self.vocabulary
        n = len(z)
        token = torch.full((n, 1), vocab.bos, dtype=torch.long, device=self.device)
        finished = torch.zeros(n, dtype=torch.bool, device=self.device)
        state = self._start_state(z)
        sampled = []
        for _ in range(max_length):
            logits, state = self._decode_step(token, z, state)
            probs = F.softmax(logits[:, -1] / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1).squeeze(1)
            nxt = torch.where(finished, torch.full_like(nxt, vocab.pad), nxt)
            sampled.append(nxt)
            finished = finished | (nxt == vocab.eos)
            token = nxt.unsqueeze(1)
            if bool(finished.all()):
                break
        return [vocab.decode(row) for row in torch.stack(sampled, dim=1).tolist()]

    def sample(self, n: int, temperature: float = 1.0, max_length: int = 100) -> list[str]:
        """Decode ``n`` codes drawn from the prior N(0, I)."""
        z = torch.randn(n, self.hparams["latent_dim"], device=self.device)
        return self.decode(z, temperature, max_length)


__all__ = ["MolecularVAE", "VAELoss"]

"""LatentGAN: a Wasserstein GAN with gradient penalty in a trained autoencoder's latent space.

Prykhodko et al. (2019), as MOSES implements it (``moses/latentgan``): molecules are encoded
once into latent vectors (here the means of :class:`~precisionmed.chem.generative.vae.
MolecularVAE`, where MOSES uses a separately trained heteroencoder); a generator MLP maps Gaussian
noise to latent vectors (Linear-LeakyReLU blocks of 128, 256, 512, 1024 units, batch norm after
all but the first with eps 0.8 as in MOSES) and a critic MLP (512, 256 units, LeakyReLU 0.2)
scores them; WGAN-GP (Gulrajani et al. 2017): 5 critic steps per generator step, gradient
penalty weight 10, Adam (lr 2e-4, betas 0.5 / 0.999). New molecules are the VAE decoder's
reading of generated latent vectors.

The adversarial loop is written here rather than run by the engine: the engine fits one network
with one loss and one optimiser, a GAN alternates two.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from precisionmed.chem.generative.vae import MolecularVAE
from precisionmed.chem.generative.vocab import Vocabulary
from precisionmed.errors import ConfigError
from precisionmed.train.config import TrainConfig


def _block(n_in: int, n_out: int, normalize: bool) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Linear(n_in, n_out)]
    if normalize:
        layers.append(nn.BatchNorm1d(n_out, eps=0.8))
    layers.append(nn.LeakyReLU(0.2))
    return layers


class LatentGAN(nn.Module):
    """Generator and critic over the latent space of a :class:`MolecularVAE`.

    Parameters
    ----------
    vocabulary : Vocabulary
        The VAE's.
    vae : MolecularVAE, optional
        The trained VAE (its weights are saved with the GAN's). None: one is built from
        ``vae_hparams`` (when loading a saved LatentGAN).
    vae_hparams : mapping, optional
        The VAE's hyper-parameters (taken from ``vae`` when it is given).
    noise_dim : int or None
        Size of the generator's input noise; None: the VAE's latent size (MOSES: equal).
    gradient_penalty : float
        Weight of the WGAN-GP penalty (10).
    n_critic : int
        Critic steps per generator step (5).
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        *,
        vae: MolecularVAE | None = None,
        vae_hparams: Mapping[str, Any] | None = None,
        noise_dim: int | None = None,
        gradient_penalty: float = 10.0,
        n_critic: int = 5,
    ) -> None:
        super().__init__()
        if vae is None:
            if vae_hparams is None:
                raise ConfigError("LatentGAN needs a trained VAE (vae=) or its vae_hparams.")
            vae = MolecularVAE(vocabulary, **dict(vae_hparams))
        if n_critic < 1 or gradient_penalty < 0:
            raise ConfigError(
                f"LatentGAN needs n_critic >= 1 and gradient_penalty >= 0. Got n_critic="
                f"{n_critic}, gradient_penalty={gradient_penalty}."
            )
        self.vocabulary = vocabulary
        self.vae = vae
        latent = int(vae.hparams["latent_dim"])
        noise = noise_dim or latent
        self.hparams: dict[str, Any] = {
            "vae_hparams": dict(vae.hparams),
            "noise_dim": noise,
            "gradient_penalty": gradient_penalty,
            "n_critic": n_critic,
        }
        self.generator = nn.Sequential(
            *_block(noise, 128, normalize=False),
            *_block(128, 256, normalize=True),
            *_block(256, 512, normalize=True),
            *_block(512, 1024, normalize=True),
            nn.Linear(1024, latent),
        )
        self.critic = nn.Sequential(
            nn.Linear(latent, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 1),
        )

    @property
    def device(self) -> torch.device:
        return self.vae.device

    def encode_molecules(self, tokens: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
        """The VAE means of token ids (N, L), shape (N, latent_dim), without gradients."""
        self.vae.eval()
        with torch.no_grad():
            parts = [
                self.vae.encode(tokens[i : i + batch_size].to(self.device))[0]
                for i in range(0, len(tokens), batch_size)
            ]
        return torch.cat(parts)

    def _penalty(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        alpha = torch.rand(len(real), 1, device=real.device)
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.critic(mixed).sum(), mixed, create_graph=True)
        return ((grad.norm(2, dim=1) - 1) ** 2).mean()

    def fit_latent(self, tokens: torch.Tensor, config: TrainConfig) -> dict[str, Any]:
        """Train generator and critic on the VAE codes of ``tokens`` (the VAE stays fixed).

        Parameters
        ----------
        tokens : Tensor of shape (N, L), long
            The training molecules' token ids.
        config : TrainConfig
            ``max_epochs``, ``batch_size`` (MOSES: 64), ``lr`` (MOSES: 2e-4), ``seed``,
            ``progress`` (a bar over the optimisation steps on stderr).

        Returns
        -------
        dict
            Critic (Wasserstein estimate) and generator losses of the last epoch, steps run.
        """
        from rich.console import Console
        from rich.progress import Progress

        from precisionmed.train.seeding import seed_everything

        seed_everything(config.seed)
        codes = self.encode_molecules(tokens)
        h = self.hparams
        betas = (0.5, 0.999)
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr, betas=betas)
        opt_c = torch.optim.Adam(self.critic.parameters(), lr=config.lr, betas=betas)
        size = config.batch_size
        per_epoch = (len(codes) + size - 1) // size
        self.generator.train()
        self.critic.train()
        history: list[dict[str, float]] = []
        with Progress(
            console=Console(stderr=True), transient=True, disable=not config.progress
        ) as bar:
            task = bar.add_task("latentgan", total=per_epoch * config.max_epochs)
            for _ in range(config.max_epochs):
                order = torch.randperm(len(codes))
                c_sum, g_sum, g_steps = 0.0, 0.0, 0
                for step, start in enumerate(range(0, len(codes), size)):
                    real = codes[order[start : start + size]]
                    if len(real) < 2:  # batch norm needs two rows
                        continue
                    noise = torch.randn(len(real), h["noise_dim"], device=real.device)
                    fake = self.generator(noise).detach()
                    critic_loss = (
                        self.critic(fake).mean()
                        - self.critic(real).mean()
                        + h["gradient_penalty"] * self._penalty(real, fake)
                    )
                    opt_c.zero_grad()
                    critic_loss.backward()
                    opt_c.step()
                    c_sum += critic_loss.detach().item()
                    if step % h["n_critic"] == 0:
                        noise = torch.randn(len(real), h["noise_dim"], device=real.device)
                        gen_loss = -self.critic(self.generator(noise)).mean()
                        opt_g.zero_grad()
                        gen_loss.backward()
                        opt_g.step()
                        g_sum += gen_loss.detach().item()
                        g_steps += 1
                    bar.update(task, advance=1)
                history.append(
                    {"critic_loss": c_sum / per_epoch, "generator_loss": g_sum / max(g_steps, 1)}
                )
        self.eval()
        return {"n_codes": len(codes), "epochs": config.max_epochs, "history": history}

    def sample(self, n: int, temperature: float = 1.0, max_length: int = 100) -> list[str]:
        """Generate ``n`` latent vectors and decode them with the VAE."""
        noise = torch.randn(n, self.hparams["noise_dim"], device=self.device)
        return self.vae.decode(self.generator(noise), temperature, max_length)


__all__ = ["LatentGAN"]

"""Brain -> CLIP image space by contrastive learning (after MindEye), with retrieval; one subject or several.

Each subject's voxels (n, n_voxels) enter through its own linear adapter into a shared latent (n, hidden); a
residual MLP maps the latent to the target space of a frozen backbone: the pooled embedding (n, 1, d) or the
token grid (n, t, d). One adapter is MindEye's single-subject model; several trained jointly are MindEye2's
shared-subject model, whose trunk then starts a new subject's decoder (a new adapter, fine-tuned on little data).
A per-token projector head feeds the contrastive losses (BiMixCo for the first `mixup_pct` of the epochs, then
soft-CLIP with a cosine-annealed temperature), and retrieval uses its output. The backbone output itself is pulled
towards the targets (z-scored per dimension) by an MSE term; it is what the diffusion prior and the generator
consume. MindEye trains the prior jointly instead; here the prior is fitted afterwards on this output.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from voxelflow.atomic_output import atomic_output
from voxelflow.decoders.losses import cosine_anneal, mixco, mixco_nce, soft_clip_loss
from voxelflow.decoding_metrics import retrieval_top1
from voxelflow.devices import resolve_device
from voxelflow.encoders.ridge import RidgeEncoder
from voxelflow.errors import InputError
from voxelflow.model_configs import ContrastiveConfig
from voxelflow.toolkit.model_files import data_fingerprint, read_model_file
from voxelflow.toolkit.training import EpochBatches, LoopSettings, one_cycle, step_rng
from voxelflow.toolkit.training import train as train_loop

log = logging.getLogger(__name__)

LATENT_MAP = ("feature_mean_", "feature_scale_", "coef_", "intercept_")  # the fitted ridge a latent map keeps
SUBJECT = "subject"  # the adapter's name in a one-subject decoder fitted without a subject name
ARCHITECTURE = ("hidden", "n_blocks", "projector_hidden")  # settings a fine-tuned decoder takes from its start


class ResidualBlock(nn.Module):
    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layer = nn.Sequential(nn.Linear(width, width), nn.LayerNorm(width), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer(x)


class BrainToClip(nn.Module):
    """{subject: voxels (b_s, n_voxels_s)} -> (backbone output (sum b_s, t, d), projector output (sum b_s, t, d)),
    the subjects' samples stacked in the dict's order. n_voxels: {subject: n_voxels} names the adapters."""

    def __init__(self, n_voxels: dict[str, int], n_tokens: int, dim: int, config: ContrastiveConfig):
        super().__init__()
        self.n_tokens, self.dim = n_tokens, dim
        h = config.hidden
        self.adapters = nn.ModuleDict({subject: nn.Linear(n, h) for subject, n in n_voxels.items()})
        self.input = nn.Sequential(nn.LayerNorm(h), nn.GELU(), nn.Dropout(config.dropout_input))
        self.blocks = nn.Sequential(*[ResidualBlock(h, config.dropout) for _ in range(config.n_blocks)])
        self.head = nn.Linear(h, n_tokens * dim)
        p = config.projector_hidden
        self.projector = nn.Sequential(nn.LayerNorm(dim), nn.GELU(), nn.Linear(dim, p), nn.LayerNorm(p), nn.GELU(),
                                       nn.Linear(p, p), nn.LayerNorm(p), nn.GELU(), nn.Linear(p, dim))

    def forward(self, voxels: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        latent = torch.cat([self.adapters[subject](x) for subject, x in voxels.items()])
        out = self.head(self.blocks(self.input(latent))).view(len(latent), self.n_tokens, self.dim)
        return out, self.projector(out)


def as_tokens(embeddings: np.ndarray) -> np.ndarray:
    """(n, d) pooled or (n, t, d) token embeddings -> (n, t, d) float32 (pooled becomes t = 1)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    if embeddings.ndim == 2:
        return embeddings[:, None, :]
    if embeddings.ndim != 3:
        raise InputError(f"image embeddings must be (n, d) or (n, t, d), got shape {embeddings.shape}")
    return embeddings


def _parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups of the trainable parameters: no weight decay on biases and LayerNorm weights (vectors), as in
    MindEye."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    return [{"params": [p for p in trainable if p.ndim >= 2], "weight_decay": weight_decay},
            {"params": [p for p in trainable if p.ndim < 2], "weight_decay": 0.0}]


def training_loss(model: BrainToClip, voxels: dict[str, torch.Tensor], targets: torch.Tensor,
                  standard: torch.Tensor, config: ContrastiveConfig, soft_clip_temperature: float | None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """One batch's loss: BiMixCo (soft_clip_temperature None; voxels mixed within each subject) or soft-CLIP on the
    projector output, plus the MSE of the MLP output against the z-scored targets. voxels {subject: (b_s,
    n_voxels_s)}; targets, standard (sum b_s, t, d) in the same order: the contrast is across all subjects' samples."""
    if soft_clip_temperature is None:
        mixed, perms, lams, offset = {}, [], [], 0
        for subject, x in voxels.items():
            mixed[subject], perm, lam = mixco(x, config.mixco_beta, generator=generator)
            perms.append(perm + offset)
            lams.append(lam)
            offset += len(x)
        out, projected = model(mixed)
        loss = mixco_nce(projected, targets, torch.cat(perms), torch.cat(lams), config.mixco_temperature)
    else:
        out, projected = model(voxels)
        loss = soft_clip_loss(projected, targets, soft_clip_temperature)
    return loss + config.mse_weight * nn.functional.mse_loss(out.float(), standard)


class ContrastiveDecoder:
    """fit / fit_subjects, then embed / project / retrieve / save / load (the Decoder contract).

    Fitted on one subject it is MindEye's decoder; on several (`fit_subjects`) MindEye2's shared-subject model,
    which `fit(..., pretrained=shared)` turns into a new subject's decoder."""

    def __init__(self, config: ContrastiveConfig | None = None, device: str = "auto",
                 checkpoint: str | Path | None = None):
        self.config = config or ContrastiveConfig()
        self.config.validate()
        self.device = resolve_device(device)
        self.checkpoint = checkpoint  # per-epoch training checkpoint: a rerun resumes from it

    @property
    def subjects_(self) -> list[str]:
        """The subjects (adapters) the decoder reads."""
        return list(self.voxel_mean_)

    def _subject(self, subject: str | None) -> str:
        if subject is None:
            if len(self.voxel_mean_) > 1:
                raise InputError(f"this decoder reads {len(self.voxel_mean_)} subjects ({', '.join(self.subjects_)}); "
                                 f"name one")
            return self.subjects_[0]
        if subject not in self.voxel_mean_:
            raise InputError(f"this decoder has no adapter for {subject}; it reads {', '.join(self.subjects_)}")
        return subject

    def _voxels(self, responses: np.ndarray, subject: str) -> torch.Tensor:
        """Responses (n, n_voxels) standardised with the subject's training statistics, as float32; a clear error
        for another voxel count."""
        mean, std = self.voxel_mean_[subject], self.voxel_std_[subject]
        if responses.ndim != 2 or responses.shape[1] != mean.shape[0]:
            raise InputError(f"responses have shape {responses.shape}, but the decoder was trained on "
                             f"{mean.shape[0]} voxels of {subject}")
        return torch.from_numpy(((responses - mean) / std).astype(np.float32))

    def fit(self, responses: np.ndarray, image_embeddings: np.ndarray, subject: str = SUBJECT,
            pretrained: ContrastiveDecoder | None = None, train: str = "all",
            adapter_init: str = "ridge") -> ContrastiveDecoder:
        """One subject's decoder: responses (n, n_voxels) z-scored betas; image_embeddings (n, d) or (n, t, d) of the
        same n images. With `pretrained` (a shared decoder) see `fit_subjects`."""
        return self.fit_subjects({subject: (responses, image_embeddings)}, pretrained, train, adapter_init)

    def fit_subjects(self, datasets: dict[str, tuple[np.ndarray, np.ndarray]],
                     pretrained: ContrastiveDecoder | None = None, train: str = "all",
                     adapter_init: str = "ridge") -> ContrastiveDecoder:
        """Train on every subject at once: datasets {subject: (responses (n_s, n_voxels_s), image embeddings (n_s,
        d) or (n_s, t, d))}; each step contrasts batch_size samples of every subject.

        pretrained: a fitted decoder whose trunk (MLP, head, projector) and target units start this one, and whose
        adapter of a subject's name and size starts that subject's; its architecture settings must equal this
        config's. A new adapter starts as ridge regression (adapter_init "ridge") from the subject's voxels to the
        latent that the pretrained model's `latent_map_` predicts from each training image's embedding, or from
        random weights ("random", MindEye2). train: "all" (MindEye2's fine-tuning) or "adapter" (the trunk frozen).
        A decoder fitted without `pretrained` learns `latent_map_` (ridge from the z-scored, token-averaged target
        embedding to the shared latent, over its training samples), so that it can start others.
        """
        cfg = self.config
        if train not in ("all", "adapter"):
            raise InputError(f"train must be 'all' or 'adapter', got {train!r}")
        if adapter_init not in ("ridge", "random"):
            raise InputError(f"adapter_init must be 'ridge' or 'random', got {adapter_init!r}")
        if train == "adapter" and pretrained is None:
            raise InputError("train: adapter needs a pretrained decoder to take the frozen trunk from")
        targets = {subject: as_tokens(embeddings) for subject, (_, embeddings) in datasets.items()}
        for subject, (responses, _) in datasets.items():
            _check_pairs(subject, responses, targets[subject], cfg.batch_size)
        shapes = {targets[subject].shape[1:] for subject in datasets}
        if len(shapes) > 1:
            raise InputError(f"the subjects' image embeddings differ in shape: {sorted(shapes)}")
        n_tokens, dim = shapes.pop()
        self.voxel_mean_ = {s: r.mean(0).astype(np.float32) for s, (r, _) in datasets.items()}
        self.voxel_std_ = {s: (r.std(0) + 1e-6).astype(np.float32) for s, (r, _) in datasets.items()}
        if pretrained is not None:
            _check_start(pretrained, cfg, (n_tokens, dim))
            self.target_mean_, self.target_std_ = pretrained.target_mean_, pretrained.target_std_
        else:
            pooled = np.concatenate(list(targets.values()))
            self.target_mean_, self.target_std_ = pooled.mean(0), pooled.std(0) + 1e-6
        torch.manual_seed(cfg.seed)
        self.model_ = BrainToClip({s: r.shape[1] for s, (r, _) in datasets.items()}, n_tokens, dim, cfg)
        start = "scratch"
        if pretrained is not None:
            start = _start_from(self.model_, pretrained.model_)
            if adapter_init == "ridge":
                reused = _reused_adapters(self.model_, pretrained.model_)
                for subject in [s for s in datasets if s not in reused]:
                    self._ridge_adapter(subject, datasets[subject][0], pretrained.latent(targets[subject]))
                    start += f"; ridge-initialised adapter of {subject}"
            for name, parameter in self.model_.named_parameters():
                parameter.requires_grad = train == "all" or name.startswith("adapters.")
        self.model_.to(self.device)
        data = {s: (self._voxels(r, s), torch.from_numpy(targets[s]),
                    torch.from_numpy((targets[s] - self.target_mean_) / self.target_std_))
                for s, (r, _) in datasets.items()}
        batches = {s: EpochBatches(len(data[s][0]), cfg.batch_size, cfg.seed + i) for i, s in enumerate(data)}
        steps_per_epoch = max(b.steps_per_epoch for b in batches.values())
        mixup_epochs = int(np.ceil(cfg.mixup_pct * cfg.epochs))
        soft_temperatures = cosine_anneal(cfg.soft_clip_temperature_start, cfg.soft_clip_temperature_end,
                                          cfg.epochs - mixup_epochs)
        steps = cfg.epochs * steps_per_epoch

        def step_loss(step: int) -> torch.Tensor:
            epoch = step // steps_per_epoch
            temperature = None if epoch < mixup_epochs else float(soft_temperatures[epoch - mixup_epochs])
            picked = {s: batches[s](step)[0] for s in data}
            voxels = {s: data[s][0][batch].to(self.device) for s, batch in picked.items()}
            Y = torch.cat([data[s][1][batch] for s, batch in picked.items()]).to(self.device)
            Z = torch.cat([data[s][2][batch] for s, batch in picked.items()]).to(self.device)
            return training_loss(self.model_, voxels, Y, Z, cfg, temperature, step_rng(cfg.seed, step)[0])

        optimizer = torch.optim.AdamW(_parameter_groups(self.model_, cfg.weight_decay), lr=cfg.lr, weight_decay=1e-2)
        identity = {"config": asdict(cfg), "train": train, "start": start,
                    "data": data_fingerprint(*[a for s in datasets for a in (datasets[s][0], targets[s])])}
        if pretrained is not None:  # a checkpoint fine-tuned from other pretrained weights is stale
            identity["pretrained"] = data_fingerprint(*[value.float().cpu().numpy()
                                                        for value in pretrained.model_.state_dict().values()])
        history = train_loop(self.model_, optimizer, one_cycle(optimizer, cfg.lr, steps, min(0.5, 2 / cfg.epochs)),
                             step_loss, LoopSettings(steps, steps_per_epoch, seed=cfg.seed, autocast=True,
                                                     desc="brain -> CLIP"),
                             checkpoint=self.checkpoint, identity=identity)
        for parameter in self.model_.parameters():
            parameter.requires_grad = True
        if pretrained is None:
            self._fit_latent_map(data)
        self.history_ = [loss for _, loss, _ in history]  # mean training loss of each epoch
        log.info("brain -> CLIP (%s; %s, trained: %s): %d epochs, loss %.3f -> %.3f", ", ".join(data), start, train,
                 cfg.epochs, self.history_[0], self.history_[-1])
        return self

    def _fit_latent_map(self, data: dict[str, tuple[torch.Tensor, ...]], max_samples: int = 10_000) -> None:
        """latent_map_: ridge from the z-scored target embedding (averaged over tokens) to the shared latent that
        the adapters give the same samples (at most `max_samples`, drawn at random across subjects)."""
        latents, embeddings = [], []
        with torch.no_grad():
            for subject, (X, _, Z) in data.items():
                latents.append(self.model_.adapters[subject](X.to(self.device)).float().cpu())
                embeddings.append(Z.mean(1))
        latents, embeddings = torch.cat(latents).numpy(), torch.cat(embeddings).numpy()
        keep = np.random.default_rng(self.config.seed).permutation(len(latents))[:max_samples]
        ridge = RidgeEncoder(cv=min(5, len(keep)), device=self.device).fit(embeddings[keep], latents[keep])
        self.latent_map_ = {name: getattr(ridge, name) for name in LATENT_MAP}

    def latent(self, image_embeddings: np.ndarray) -> np.ndarray:
        """The shared latent (n, hidden) that `latent_map_` predicts for image embeddings (n, d) or (n, t, d)."""
        if getattr(self, "latent_map_", None) is None:
            raise InputError("this decoder has no latent map (it was itself fine-tuned from another): it cannot "
                             "ridge-initialise a new subject's adapter; use adapter_init: random")
        z = ((as_tokens(image_embeddings) - self.target_mean_) / self.target_std_).mean(1)
        m = self.latent_map_
        return ((z - m["feature_mean_"]) / m["feature_scale_"]) @ m["coef_"] + m["intercept_"]

    def _ridge_adapter(self, subject: str, responses: np.ndarray, latent: np.ndarray) -> None:
        """Set the subject's adapter to ridge regression (CV over alphas) of `latent` (n, hidden) on its
        standardised voxels (n, n_voxels)."""
        X = self._voxels(responses, subject).numpy()
        ridge = RidgeEncoder(cv=min(5, len(X)), device=self.device).fit(X, latent.astype(np.float32))
        weight = ridge.coef_ / ridge.feature_scale_[:, None]  # (n_voxels, hidden) on X itself
        bias = ridge.intercept_ - ridge.feature_mean_ @ weight
        adapter = self.model_.adapters[subject]
        with torch.no_grad():
            adapter.weight.copy_(torch.from_numpy(weight.T.astype(np.float32)))
            adapter.bias.copy_(torch.from_numpy(bias.astype(np.float32)))

    def _run(self, responses: np.ndarray, subject: str | None, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
        subject = self._subject(subject)
        X = self._voxels(responses, subject)
        outs, projected = [], []
        with torch.no_grad():
            for start in range(0, len(X), batch_size):
                out, proj = self.model_({subject: X[start:start + batch_size].to(self.device)})
                outs.append(out.float().cpu())
                projected.append(proj.float().cpu())
        return torch.cat(outs).numpy() * self.target_std_ + self.target_mean_, torch.cat(projected).numpy()

    def embed(self, responses: np.ndarray, subject: str | None = None) -> np.ndarray:
        """responses (n, n_voxels) of `subject` (the only one when None) -> predicted image embeddings (n, t, d) in
        the target's units (prior input)."""
        return self._run(responses, subject)[0]

    def project(self, responses: np.ndarray, subject: str | None = None) -> np.ndarray:
        """responses (n, n_voxels) -> the projector's retrieval embeddings (n, t, d), compared by cosine."""
        return self._run(responses, subject)[1]

    def retrieve(self, responses: np.ndarray, image_embeddings: np.ndarray, n_candidates: int = 300,
                 n_draws: int = 30, seed: int = 42, subject: str | None = None) -> dict[str, float]:
        """Top-1 image and brain retrieval of the n test images among min(n_candidates, n) (MindEye's protocol)."""
        return retrieval_top1(self.project(responses, subject), as_tokens(image_embeddings), n_candidates, n_draws,
                              seed)

    def save(self, path: str | Path) -> None:
        """Weights, config and normalisation to one torch file, atomically."""
        with atomic_output(path) as tmp:
            torch.save({"decoder": "contrastive", "config": asdict(self.config), "model": self.model_.state_dict(),
                        "shape": ({s: len(m) for s, m in self.voxel_mean_.items()}, self.model_.n_tokens,
                                  self.model_.dim),
                        "voxel_mean": self.voxel_mean_, "voxel_std": self.voxel_std_,
                        "target_mean": self.target_mean_, "target_std": self.target_std_,
                        "latent_map": getattr(self, "latent_map_", None), "history": self.history_}, tmp)
        log.info("wrote brain -> CLIP decoder (%s) to %s", ", ".join(self.subjects_), path)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> ContrastiveDecoder:
        """Read a decoder written by `save`."""
        saved = read_model_file(path, "decoder", "contrastive", "a contrastive decoder")
        if not isinstance(saved["shape"][0], dict):
            raise InputError(f"{path} was written by a voxelflow without per-subject adapters; rerun its rule")
        decoder = cls(ContrastiveConfig(**saved["config"]), device=device)
        decoder.model_ = BrainToClip(*saved["shape"], decoder.config)
        decoder.model_.load_state_dict(saved["model"])
        decoder.model_.to(decoder.device).eval()
        decoder.voxel_mean_, decoder.voxel_std_ = saved["voxel_mean"], saved["voxel_std"]
        decoder.target_mean_, decoder.target_std_ = saved["target_mean"], saved["target_std"]
        decoder.history_ = saved["history"]
        if saved.get("latent_map") is not None:
            decoder.latent_map_ = saved["latent_map"]
        return decoder


def _check_pairs(subject: str, responses: np.ndarray, targets: np.ndarray, batch_size: int) -> None:
    if "." in subject or not subject:
        raise InputError(f"subject name {subject!r} cannot name an adapter (empty, or has a '.')")
    if responses.ndim != 2 or len(responses) != len(targets) or len(responses) < batch_size:
        raise InputError(f"{subject}: responses {responses.shape} and image embeddings {targets.shape} must pair "
                         f"n >= batch_size ({batch_size}) images")
    if not (np.isfinite(responses).all() and np.isfinite(targets).all()):
        raise InputError(f"{subject}: responses or image embeddings contain NaN or infinite values")


def _check_start(pretrained: ContrastiveDecoder, config: ContrastiveConfig, target_shape: tuple[int, int]) -> None:
    """One clear error when a pretrained decoder cannot start one of `config` on targets (t, d)."""
    differ = [f"{name} {getattr(pretrained.config, name)} != {getattr(config, name)}" for name in ARCHITECTURE
              if getattr(pretrained.config, name) != getattr(config, name)]
    if differ:
        raise InputError(f"the pretrained decoder's architecture differs from decoders.contrastive: "
                         f"{'; '.join(differ)}")
    if (pretrained.model_.n_tokens, pretrained.model_.dim) != tuple(target_shape):
        raise InputError(f"the pretrained decoder maps to ({pretrained.model_.n_tokens}, {pretrained.model_.dim}) "
                         f"embeddings, these targets are {tuple(target_shape)}")


def _reused_adapters(model: BrainToClip, pretrained: BrainToClip) -> list[str]:
    """The adapters of `model` that `pretrained` has too, with the same shape."""
    return [name for name, adapter in model.adapters.items()
            if name in pretrained.adapters and pretrained.adapters[name].weight.shape == adapter.weight.shape]


def _start_from(model: BrainToClip, pretrained: BrainToClip) -> str:
    """Copy the pretrained trunk, and each adapter of the same name and size, into `model`; say what was copied."""
    state = model.state_dict()
    copied = {key: value for key, value in pretrained.state_dict().items()
              if key in state and state[key].shape == value.shape}
    trunk = [key for key in state if not key.startswith("adapters.")]
    missing = [key for key in trunk if key not in copied]
    if missing:
        raise InputError(f"the pretrained decoder lacks {missing[0]} of this architecture")
    model.load_state_dict({**state, **copied})
    reused = sorted({key.split(".")[1] for key in copied if key.startswith("adapters.")})
    return "pretrained trunk" + (f" and adapters of {', '.join(reused)}" if reused else ", new adapters")

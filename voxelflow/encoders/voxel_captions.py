"""Words for what a voxel prefers (after BrainSCUBA, Luo et al. 2024): a linear encoder's weights projected onto
natural image embeddings, then captioned.

A voxel's linear encoder (`LinearEncoder` on a backbone's pooled embedding; a CLIP image tower for real runs) has a
preferred direction in the embedding space, w = coef / feature_scale. `project_to_images` turns it into an
embedding a captioner has seen: softmax(cos(w, e_i - mean) / temperature) over the natural image embeddings e_i
(the images' own mean removed, so that a large common component decides nothing), and the softmax-weighted
average of the unit-normalised e_i. A captioner maps such embeddings to sentences: `PrefixCaptioner` is a
ClipCap-style language model read from a local Hugging Face folder; `NearestLabelCaptioner` names the nearest of a
few labelled embeddings (the mini-NSD's categories: it checks the projection, not a language model).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.special import softmax

from voxelflow.encoders.linear import LinearEncoder
from voxelflow.errors import InputError

# words that say nothing about selectivity, left out of the word counts (BrainSCUBA counts nouns; without a
# tagger, this drops function words and the captioners' stock phrases)
STOPWORDS = frozenset("""a an the of in on at to with and or for from by is are was were be been being this that these
those it its there their his her some many two three several one front near next while as into over under up down
picture image photo photograph view close shot""".split())


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Each row (last axis) of `x` scaled to unit length (a zero row stays zero)."""
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def voxel_directions(encoder: LinearEncoder, voxels: np.ndarray) -> np.ndarray:
    """Preferred directions (n_voxels, d) in the raw embedding space of the voxels `voxels` (indices)."""
    return (encoder.coef_[:, voxels] / encoder.feature_scale_[:, None]).T.astype(np.float64)


def project_to_images(directions: np.ndarray, image_embeddings: np.ndarray, temperature: float) -> np.ndarray:
    """directions (v, d), image embeddings (n, d) -> (v, d) unit-norm embeddings: the softmax(cos / temperature)-
    weighted average of the unit-normalised image embeddings, cosines taken with the embeddings' mean removed."""
    if temperature <= 0:
        raise InputError(f"temperature must be positive, got {temperature}")
    weights = softmax(unit_rows(directions) @ unit_rows(image_embeddings - image_embeddings.mean(0)).T / temperature,
                      axis=1)
    return unit_rows(weights @ unit_rows(image_embeddings))


class NearestLabelCaptioner:
    """Captions an embedding with the label of the most cosine-similar labelled embedding (labels (k,), embeddings
    (k, d)), both taken relative to `origin` (d,) (e.g. the natural images' mean unit embedding, which every
    projection shares); the stand-in captioner of the mini-NSD's known answer."""

    def __init__(self, labels: list[str], embeddings: np.ndarray, origin: np.ndarray | None = None):
        self.labels = list(labels)
        self.origin = np.zeros(embeddings.shape[1]) if origin is None else origin
        self.embeddings = unit_rows(embeddings - self.origin)

    def __call__(self, embeddings: np.ndarray) -> list[str]:
        """(n, d) -> n captions."""
        return [self.labels[i] for i in np.argmax(unit_rows(embeddings - self.origin) @ self.embeddings.T, axis=1)]


def category_centroids(image_embeddings: np.ndarray, has_category: np.ndarray, names: list[str]) -> np.ndarray:
    """(n_categories, d): the mean unit-normalised embedding of the images showing only that category."""
    unit = unit_rows(image_embeddings)
    alone = has_category & (has_category.sum(1, keepdims=True) == 1)
    missing = [name for name, column in zip(names, alone.T) if not column.any()]
    if missing:
        raise InputError(f"no image shows only {missing[0]}: the stand-in captioner has no embedding for it")
    return np.stack([unit[column].mean(0) for column in alone.T])


class PrefixCaptioner:
    """A ClipCap-style captioner: an image embedding mapped to `prefix_length` token embeddings that a causal
    language model continues greedily.

    folder: a local folder holding a Hugging Face causal LM and its tokenizer (`save_pretrained`, e.g. GPT-2), and
    `prefix_map.pt`, a state dict of a linear map {weight: (prefix_length * hidden, d), bias} from the embedding
    to the prefix, with `prefix_map.json` {"prefix_length": n, "embedding_dim": d}.
    """

    def __init__(self, folder: str | Path, max_tokens: int = 20, device: str = "cpu"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder = Path(folder)
        for name in ("config.json", "prefix_map.pt", "prefix_map.json"):
            if not (folder / name).is_file():
                raise InputError(f"captioner folder {folder} has no {name} (a causal LM and its prefix map)")
        self.model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True).eval().to(device)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        shape = json.loads((folder / "prefix_map.json").read_text())
        hidden = self.model.get_input_embeddings().embedding_dim
        self.prefix_length, self.embedding_dim = int(shape["prefix_length"]), int(shape["embedding_dim"])
        self.prefix_map = torch.nn.Linear(self.embedding_dim, self.prefix_length * hidden)
        try:
            self.prefix_map.load_state_dict(torch.load(folder / "prefix_map.pt", weights_only=True))
        except RuntimeError as err:
            raise InputError(f"{folder / 'prefix_map.pt'} does not map {self.embedding_dim} to {self.prefix_length} "
                             f"x {hidden}: {str(err).splitlines()[0]}") from None
        self.prefix_map.to(device)
        self.max_tokens, self.device = max_tokens, device

    @torch.no_grad()
    def __call__(self, embeddings: np.ndarray) -> list[str]:
        """(n, d) -> n captions, greedy decoding up to `max_tokens` tokens or the end-of-text token."""
        if embeddings.shape[1] != self.embedding_dim:
            raise InputError(f"the captioner reads {self.embedding_dim}-dimensional embeddings, not "
                             f"{embeddings.shape[1]}: caption a backbone of its CLIP space")
        x = torch.as_tensor(embeddings, dtype=torch.float32, device=self.device)
        inputs = self.prefix_map(x).view(len(x), self.prefix_length, -1)
        tokens = torch.empty((len(x), 0), dtype=torch.long, device=self.device)
        finished = torch.zeros(len(x), dtype=torch.bool, device=self.device)
        end = self.tokenizer.eos_token_id
        for _ in range(self.max_tokens):
            logits = self.model(inputs_embeds=inputs).logits[:, -1]
            token = logits.argmax(-1)
            token = torch.where(finished, torch.full_like(token, end if end is not None else 0), token)
            tokens = torch.cat([tokens, token[:, None]], dim=1)
            finished |= token == end
            if finished.all():
                break
            inputs = torch.cat([inputs, self.model.get_input_embeddings()(token)[:, None]], dim=1)
        return [self.tokenizer.decode(row, skip_special_tokens=True).strip() for row in tokens]


def word_counts(captions: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """captions (rows roi, caption) -> rows roi, word, count, share (of the ROI's captions holding the word): the
    `top` most frequent words per ROI, stopwords left out."""
    rows = []
    for roi, part in captions.groupby("roi", sort=False):
        counts = Counter(word for caption in part["caption"]
                         for word in set(re.findall(r"[a-z]+", str(caption).lower())) if word not in STOPWORDS)
        rows += [{"roi": roi, "word": word, "count": count, "share": count / len(part)}
                 for word, count in counts.most_common(top)]
    return pd.DataFrame(rows, columns=["roi", "word", "count", "share"])

"""Load any saved encoder or generator from the tag its own file carries.

Encoders: an HDF5 voxel-model file names its kind in the attribute `encoder` (ridge, in_context, linear); a torch
file in its key `encoder` (transformer, in_context for the meta-trained network). Generators: a folder holding
`voxelflow_generator.json` is voxelflow's; a diffusers `model_index.json` names its pipeline class. Classes are
named here by import path and imported on use, so the toolkit imports no model module (the layer rule).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import h5py

from voxelflow.errors import InputError
from voxelflow.toolkit.model_files import read_torch_file

ENCODER_CLASSES = {
    ("hdf5", "ridge"): "voxelflow.encoders.ridge:RidgeEncoder",
    ("hdf5", "in_context"): "voxelflow.encoders.linear:LinearEncoder",  # voxel models the network predicted
    ("hdf5", "linear"): "voxelflow.encoders.linear:LinearEncoder",
    ("torch", "transformer"): "voxelflow.encoders.transformer:TransformerEncoder",
    ("torch", "in_context"): "voxelflow.encoders.in_context:InContextEncoder",
}
GENERATOR_FILE = "voxelflow_generator.json"  # what marks a voxelflow generator folder (ImageGenerator.save writes it)
STABLE_DIFFUSION_PARTS = ("unet", "vae", "scheduler", "text_encoder", "tokenizer")
GENERATOR_CLASSES = {
    "voxelflow": "voxelflow.decoders.generator:ImageGenerator",
    "StableUnCLIPImg2ImgPipeline": "voxelflow.decoders.unclip:UnclipGenerator",
    "StableDiffusionPipeline": "voxelflow.synthesis.stable_diffusion:StableDiffusionGenerator",
}


def _class(path: str) -> type:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def encoder_tag(path: str | Path) -> tuple[str, str]:
    """(file format, kind) of a saved encoder file; a clear error for a file that is neither."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"encoder file {path} does not exist")
    if h5py.is_hdf5(path):
        with h5py.File(path, "r") as f:
            return "hdf5", str(f.attrs.get("encoder", ""))
    saved = read_torch_file(path, "an encoder")
    return "torch", str(saved.get("encoder", "")) if isinstance(saved, dict) else ""


def load_encoder(path: str | Path, device: str = "auto"):
    """The encoder saved at `path`, of whichever class its tag names."""
    tag = encoder_tag(path)
    if tag not in ENCODER_CLASSES:
        raise InputError(f"{path} is not a saved voxelflow encoder (its tag is {tag[1] or 'missing'!r} in a "
                         f"{tag[0]} file; known: {', '.join(kind for _, kind in ENCODER_CLASSES)})")
    cls = _class(ENCODER_CLASSES[tag])
    return cls.load(path) if tag[0] == "hdf5" else cls.load(path, device=device)


def generator_tag(folder: str | Path) -> str:
    """"voxelflow", a diffusers pipeline class name, or "" for a folder that is neither."""
    folder = Path(folder)
    if (folder / GENERATOR_FILE).is_file():
        return "voxelflow"
    index = folder / "model_index.json"
    if not index.is_file():
        return ""
    pipeline = json.loads(index.read_text())
    if pipeline.get("_class_name") in GENERATOR_CLASSES:
        return pipeline["_class_name"]
    # any other pipeline with Stable Diffusion's parts (e.g. saved as an img2img pipeline) samples the same way
    if all(part in pipeline for part in STABLE_DIFFUSION_PARTS):
        return "StableDiffusionPipeline"
    return pipeline.get("_class_name", "")


def load_generator(folder: str | Path, device: str = "auto", gradient_checkpointing: bool = False):
    """The generator saved in `folder` (voxelflow's, a Stable unCLIP or a Stable Diffusion pipeline);
    gradient_checkpointing for guided sampling (the Generator contract's load option)."""
    tag = generator_tag(folder)
    if tag not in GENERATOR_CLASSES:
        raise InputError(f"{folder} is not a generator folder voxelflow reads (voxelflow's, with voxelflow_generator."
                         f"json, or a diffusers {' or '.join(k for k in GENERATOR_CLASSES if k != 'voxelflow')}; "
                         f"found {tag or 'neither'})")
    return _class(GENERATOR_CLASSES[tag]).load(folder, device=device, gradient_checkpointing=gradient_checkpointing)

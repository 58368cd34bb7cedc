"""The published protocols of the reconstruction and retrieval tables, as data.

The metric maths is the same everywhere (`voxelflow.decoding_metrics`); what moves the numbers between papers is
how images reach it. Each `MetricProtocol` records one codebase's choices, read from its evaluation code:

- voxelflow: native images (NSD's 425 px), every resize antialiased; PixCorr/SSIM at 425 px (scikit-image
  resize), 2-D SSIM; network inputs at MindEye's sizes from the native images. All rows kept apart.
- mindeye1 (MedARC-AI/fMRI-reconstruction-NSD `src/Reconstruction_Metrics.py`, torchvision 0.15, scikit-image
  >= 0.20): ground truth and reconstructions stored at 256 px (torchvision tensor `Resize`, no antialiasing),
  upsampled to 425 px for PixCorr/SSIM; `multichannel=True` is ignored, so SSIM is 2-D; networks see the 256-px
  images resized again without antialiasing (AlexNet 256, Inception 342, CLIP 224, EffNet 255, SwAV 224).
  Headline: the best of 16 samples by CLIP similarity to the retrieval embedding. 982 test images (37 sessions).
- mindeye2 (MedARC-AI/MindEyeV2 `src/final_evaluations.ipynb`, torchvision 0.16, scikit-image 0.22): the same
  image chain; headline: 0.75 x reconstruction + 0.25 x blurry at 256 px. 1000 test images (40 sessions).
- brain-diffuser (ozcelikfu/brain-diffuser `scripts/evaluate_reconstruction.py`, `eval_extract_features.py`;
  scikit-image 0.17.2, Pillow 9.2): reconstructions saved as PNG and resized to 425 px by PIL (bicubic), ground
  truth at native 425 px; SSIM with `multichannel=True` honoured, i.e. the mean of column-wise 1-D SSIMs; every
  network sees 224 px (PIL bilinear). 982 test images; no retrieval.

All papers average subjects 1, 2, 5 and 7. Retrieval: MindEye's code computes the column its papers label
"image retrieval" as image -> brain (see `voxelflow.decoding_metrics.retrieval_top1`), so the MindEye protocols
fill that column with image -> brain, and name it so.

Not reproduced (said in every caption): how the papers' own 256-px ground truth was made from the 425-px stimuli
(not in their code; taken here to be the same unantialiased resize), and library-version effects beyond the
resizes and SSIM (e.g. cuDNN kernels).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from voxelflow.errors import InputError

PIXEL_SIZE = 425  # PixCorr and SSIM are computed at NSD's 425 x 425 pixels in every protocol
PAPER_SUBJECTS = ("subj01", "subj02", "subj05", "subj07")  # the subjects with all 40 sessions
MINDEYE_NETWORK_SIZES = {"alexnet": 256, "inception": 342, "clip": 224, "efficientnet_b1": 255, "swav": 224}


@dataclass(frozen=True)
class MetricProtocol:
    """How one codebase turns reconstructions and ground truth into its table (see the module docstring).

    stored_size: the side images are stored at before scoring (None: as generated / as shipped), reached with
    `stored_resize` (a `voxelflow.images.resize_images` method); pixel_resize: the method that brings stored
    images to PIXEL_SIZE; network_sizes / network_resize: each metric network's input side and how stored images
    get there; ssim_mode: see `voxelflow.decoding_metrics.ssim`; headline: the candidate row the paper reports
    ("reconstruction", "best of N" or "blend 0.75/0.25"); retrieval: table column -> `retrieval_top1` key;
    test_images / sessions: the test set the paper used; subjects: the subjects its mean is over (None: all).
    """

    name: str
    source: str
    stored_size: int | None
    stored_resize: str
    pixel_resize: str
    ssim_mode: str
    network_sizes: dict[str, int]
    network_resize: str
    headline: str
    retrieval: dict[str, str] = field(default_factory=dict)
    test_images: int | None = None
    sessions: str = "all"
    subjects: tuple[str, ...] | None = None
    libraries: str = ""

    def describe(self, n_test: int | str, sessions: str, subjects: list[str], n_samples: int = 1) -> str:
        """One caption line: the protocol, its test set against the one used, subjects, sample selection, sizes and
        library behaviour. n_test: test images scored (per subject, "/"-joined when they differ); sessions: the
        sessions the responses used; subjects: those the mean row is over."""
        test = f"{n_test} test images (the NSD shared images seen in the {sessions} sessions used)"
        if self.test_images is not None and str(n_test) != str(self.test_images):
            test += f"; the paper used {self.test_images} (sessions: {self.sessions}), so values are not comparable"
        headline = self.headline
        if headline == "best of N":
            headline = (f"best of {n_samples} samples by similarity to the retrieval embedding (the paper: 16)"
                        if n_samples > 1 else "one sample (the paper picked the best of 16: set "
                        "decoders.reconstruction.samples)")
        if subjects:
            mean_over = f"mean over {', '.join(subjects)}"
        else:
            mean_over = "no subject of the paper's mean is configured: subject rows only"
        if self.subjects is not None:
            missing = [s for s in self.subjects if s not in subjects]
            mean_over += f" (paper: {', '.join(self.subjects)}"
            mean_over += f"; missing {', '.join(missing)})" if missing else ")"
        stored = f"stored at {self.stored_size} px ({self.stored_resize})" if self.stored_size else "native size"
        return (f"protocol {self.name} ({self.source}): {test}; {mean_over}; headline row: {headline}; images "
                f"{stored}, PixCorr/SSIM at {PIXEL_SIZE} px ({self.pixel_resize}), SSIM {self.ssim_mode}; networks "
                f"at {', '.join(f'{k} {v}' for k, v in self.network_sizes.items())} px ({self.network_resize}). "
                f"{self.libraries}")


_MINDEYE_RETRIEVAL = {"image retrieval [image->brain]": "image_to_brain",
                      "brain retrieval [brain->image]": "brain_to_image"}
_MINDEYE_LIBRARIES = ("torchvision < 0.17 tensor resizes (no antialiasing); scikit-image >= 0.20 (multichannel "
                      "ignored: 2-D SSIM). The papers' 256-px ground truth is assumed made by the same resize.")

PROTOCOLS = {
    "voxelflow": MetricProtocol(
        "voxelflow", "this project", None, "skimage", "skimage", "2d", MINDEYE_NETWORK_SIZES, "antialias",
        "reconstruction", {"brain->image retrieval": "brain_to_image", "image->brain retrieval": "image_to_brain"},
        libraries="Every resize antialiased; all rows (raw, low-level, blend, best of N) kept apart."),
    "mindeye1": MetricProtocol(
        "mindeye1", "MindEye, Reconstruction_Metrics.py", 256, "no-antialias", "no-antialias", "2d",
        MINDEYE_NETWORK_SIZES, "no-antialias", "best of N", _MINDEYE_RETRIEVAL, 982, "37", PAPER_SUBJECTS,
        _MINDEYE_LIBRARIES),
    "mindeye2": MetricProtocol(
        "mindeye2", "MindEye2, final_evaluations.ipynb", 256, "no-antialias", "no-antialias", "2d",
        MINDEYE_NETWORK_SIZES, "no-antialias", "blend 0.75/0.25", _MINDEYE_RETRIEVAL, 1000, "all (40)",
        PAPER_SUBJECTS, _MINDEYE_LIBRARIES),
    "brain-diffuser": MetricProtocol(
        "brain-diffuser", "Brain-Diffuser, evaluate_reconstruction.py", None, "pil-bicubic", "pil-bicubic", "columns",
        dict.fromkeys(MINDEYE_NETWORK_SIZES, 224), "pil-bilinear", "reconstruction", {}, 982, "37", PAPER_SUBJECTS,
        "Reconstructions quantised to 8 bits (PNG) before PIL resizes; scikit-image 0.17.2 (multichannel honoured: "
        "mean of column SSIMs); no retrieval columns."),
}


def get_protocol(name: str) -> MetricProtocol:
    """The protocol called `name`, or one clear error listing the known ones."""
    if name not in PROTOCOLS:
        raise InputError(f"decoders.reconstruction.protocols: unknown protocol {name!r}; known: "
                         f"{', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]

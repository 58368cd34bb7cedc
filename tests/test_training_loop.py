"""The one training loop: its schedule, and exact resume after an interrupt for every trained model."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from voxelflow.decoders.contrastive import ContrastiveConfig, ContrastiveDecoder
from voxelflow.decoders.generator import GeneratorConfig, ImageGenerator
from voxelflow.decoders.prior import DiffusionPrior, PriorConfig
from voxelflow.encoders.in_context import InContextConfig, InContextEncoder
from voxelflow.encoders.transformer import TransformerConfig, TransformerEncoder
from voxelflow.toolkit.training import EpochBatches, one_cycle


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5, 6, 10, 100])
def test_one_cycle_runs_any_number_of_steps_and_peaks_at_lr(total):
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.5)
    schedule = one_cycle(optimizer, 0.5, total, pct_start=0.1)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert max(rates) == pytest.approx(0.5, rel=1e-6)
    if total >= 5:
        assert rates[0] < 0.5 and rates[-1] < 0.5  # warm-up and decay


def test_epoch_batches_cover_each_epoch_once_and_depend_only_on_the_step():
    batches = EpochBatches(10, 3, seed=1)
    assert batches.steps_per_epoch == 3  # the partial batch of 1 is dropped
    epoch = np.concatenate([batches(step)[0].numpy() for step in range(3)])
    assert len(set(epoch)) == 9 and batches(3)[1] == 1
    assert np.array_equal(EpochBatches(10, 3, seed=1)(4)[0], batches(4)[0])  # no state carried between steps
    assert EpochBatches(10, 3, seed=1, drop_last=False).steps_per_epoch == 4


def _contrastive(encoding_data, checkpoint):
    d = encoding_data
    model = ContrastiveDecoder(ContrastiveConfig(hidden=32, n_blocks=1, projector_hidden=32, epochs=4, batch_size=64,
                                                 mixup_pct=0.5), device="cpu", checkpoint=checkpoint)
    return model.fit(d.responses.responses[d.train], d.pooled[d.train]), lambda m: m.model_


SHARED = ContrastiveConfig(hidden=32, n_blocks=1, projector_hidden=32, epochs=4, batch_size=64, mixup_pct=0.5)


def _shared_contrastive(encoding_data, checkpoint):
    d = encoding_data
    X, Y = d.responses.responses[d.train], d.pooled[d.train]
    model = ContrastiveDecoder(SHARED, device="cpu", checkpoint=checkpoint)
    return model.fit_subjects({"a": (X[:, ::2], Y), "b": (X[:150, 1::2], Y[:150])}), lambda m: m.model_


def _fine_tuned_contrastive(encoding_data, checkpoint):
    d = encoding_data
    X, Y = d.responses.responses[d.train], d.pooled[d.train]
    pretrained = ContrastiveDecoder(SHARED, device="cpu").fit_subjects({"a": (X[:, ::2], Y)})
    model = ContrastiveDecoder(SHARED, device="cpu", checkpoint=checkpoint)
    return model.fit(X[:150, 1::2], Y[:150], "b", pretrained, train="adapter"), lambda m: m.model_


def _prior(encoding_data, checkpoint):
    d = encoding_data
    model = DiffusionPrior(PriorConfig(width=32, n_layers=1, n_heads=2, timesteps=10, epochs=4), device="cpu",
                           checkpoint=checkpoint)
    return model.fit(d.pooled[d.train][:, None] + 0.1, d.pooled[d.train]), lambda m: m.model_


def _generator(encoding_data, checkpoint):
    d = encoding_data
    images = (np.random.default_rng(0).random((40, 16, 16, 3)) * 255).astype(np.uint8)
    model = ImageGenerator(GeneratorConfig(image_size=16, channels=(8, 16), steps=40, batch_size=8), device="cpu",
                           checkpoint=checkpoint)
    return model.fit(images, d.pooled[:40]), lambda m: m.unet


def _transformer(encoding_data, checkpoint):
    d = encoding_data
    model = TransformerEncoder(TransformerConfig(d_model=16, n_heads=2, epochs=4, patience=10), device="cpu",
                               checkpoint=checkpoint)
    return model.fit(d.tokens[:80], d.responses.responses[:80], d.responses.rois), lambda m: m.model_


def _in_context(encoding_data, checkpoint):
    d = encoding_data
    X, Y = d.pooled[d.train], d.responses.responses[d.train][:, :200]
    config = InContextConfig(width=16, n_layers=1, n_heads=2, context_max=60, n_query=20, steps=40, eval_every=10)
    model = InContextEncoder(config, device="cpu", checkpoint=checkpoint)
    return model.meta_fit({"a": (X[:150], Y[:150]), "b": (X[150:], Y[150:])}), lambda m: m.network_


@pytest.mark.parametrize("make", [_contrastive, _shared_contrastive, _fine_tuned_contrastive, _prior, _generator,
                                  _transformer, _in_context],
                         ids=["contrastive", "shared", "fine-tuned", "prior", "generator", "transformer", "in_context"])
def test_every_trained_model_resumes_exactly_after_an_interrupt(make, encoding_data, tmp_path, interrupt_training):
    """Killed after its second checkpoint and fitted again, a model ends with the very weights and history of a run
    that never stopped: each step's randomness depends on (seed, step) only, and the loop restores the rest."""
    torch.set_num_threads(1)
    straight, network = make(encoding_data, None)
    checkpoint = tmp_path / "model.checkpoint.pt"
    interrupt_training(2)
    with pytest.raises(KeyboardInterrupt):
        make(encoding_data, checkpoint)
    assert checkpoint.is_file()
    resumed, _ = make(encoding_data, checkpoint)
    for name, value in network(straight).state_dict().items():
        assert torch.equal(value, network(resumed).state_dict()[name]), name
    assert resumed.history_ == straight.history_


def test_a_fine_tuning_checkpoint_of_other_pretrained_weights_is_not_resumed(encoding_data, tmp_path,
                                                                            interrupt_training):
    d = encoding_data
    X, Y = d.responses.responses[d.train], d.pooled[d.train]
    checkpoint = tmp_path / "model.checkpoint.pt"
    interrupt_training(2)
    with pytest.raises(KeyboardInterrupt):
        _fine_tuned_contrastive(encoding_data, checkpoint)
    assert checkpoint.is_file()
    other = ContrastiveDecoder(replace(SHARED, seed=5), device="cpu").fit_subjects({"a": (X[:, ::2], Y)})
    resumed = ContrastiveDecoder(SHARED, device="cpu", checkpoint=checkpoint).fit(X[:150, 1::2], Y[:150], "b", other,
                                                                                 train="adapter")
    fresh = ContrastiveDecoder(SHARED, device="cpu").fit(X[:150, 1::2], Y[:150], "b", other, train="adapter")
    assert resumed.history_ == fresh.history_  # started over from `other`, not from the stale checkpoint

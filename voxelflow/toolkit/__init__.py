"""The model toolkit: what every trained torch model of voxelflow shares, and nothing model-specific.

- `training`: the one training loop (seeded steps, validation and early stopping, atomic checkpoints and exact
  resume, bfloat16 autocast on CUDA, progress bar and log line), `EpochBatches`, `step_rng`, `one_cycle`;
- `tensor_images`: images between numpy and torch models (pixel-space model range, [0, 1] tensors);
- `model_files`: torch file I/O with one clear error per damaged file, checkpoints tied to settings and data;
- `contracts`: the `Encoder` and `Generator` protocols every model satisfies, and `check_fitted`;
- `registry`: load any saved encoder or generator from the tag in its own file.
The numpy image conversions and the one resizer live in `voxelflow.images` (the figures use them too). The
toolkit imports no model: encoders import it, decoders import encoders and it, synthesis imports all three
(tests/test_layers.py).

Adding a trained model: hyper-parameters (and device, checkpoint path) in `__init__`, data in `fit`, learned state
with a trailing "_", and the loop does the rest. A voxelwise MLP encoder, whole::

    class MLPEncoder:
        reads_tokens = False

        def __init__(self, width=256, steps=2000, lr=1e-3, seed=0, device="auto", checkpoint=None):
            self.width, self.steps, self.lr, self.seed = width, steps, lr, seed
            self.device, self.checkpoint = resolve_device(device), checkpoint

        def fit(self, X, Y):
            torch.manual_seed(self.seed)
            self.n_features_in_ = X.shape[1]
            self.model_ = nn.Sequential(nn.Linear(X.shape[1], self.width), nn.GELU(),
                                        nn.Linear(self.width, Y.shape[1])).to(self.device)
            X_, Y_ = (torch.as_tensor(a, dtype=torch.float32, device=self.device) for a in (X, Y))
            batches = EpochBatches(len(X), 64, self.seed)
            optimizer = torch.optim.AdamW(self.model_.parameters(), lr=self.lr)
            self.history_ = train(self.model_, optimizer, one_cycle(optimizer, self.lr, self.steps),
                                  lambda step: F.mse_loss(self.model_(X_[batches(step)[0]]), Y_[batches(step)[0]]),
                                  LoopSettings(self.steps, eval_every=batches.steps_per_epoch, seed=self.seed),
                                  checkpoint=self.checkpoint, identity={"width": self.width, "steps": self.steps,
                                                                       "data": data_fingerprint(X, Y)})
            return self

Then `predict`/`predict_torch`/`score` (with `check_fitted(self, "model_")` first) and `save`/`load` writing a
torch dict tagged {"encoder": "mlp", ...} (`model_files.read_model_file` reads it back), one line in
`registry.ENCODER_CLASSES`, and a rule whose script wraps the fit in `script_runner.training_checkpoint`.
Pass a `validation_loss` closure to `train` (and `patience` in LoopSettings) for early stopping.
"""

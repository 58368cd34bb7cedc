"""The one exception type for bad user input."""


class InputError(ValueError):
    """Bad input from the user: a missing or malformed file, an unknown name, a bad value.

    The message names the file, key or value and says what was expected. Workflow
    scripts and the CLI print it as a single line and exit with status 1.
    """


def check_model_config(section: str, config, counts: tuple[str, ...], width: str | None = None,
                       n_heads: str = "n_heads") -> None:
    """One clear error unless each of `counts` is at least 1 and `width` (when given) divides by `n_heads`
    (attributes of a model's config dataclass; `section` is its config.yaml key, e.g. "encoders.transformer")."""
    for name in counts:
        if getattr(config, name) < 1:
            raise InputError(f"{section}.{name} must be at least 1, got {getattr(config, name)}")
    if width is not None and getattr(config, width) % getattr(config, n_heads):
        raise InputError(f"{section}.{width} ({getattr(config, width)}) must be divisible by {n_heads} "
                         f"({getattr(config, n_heads)})")

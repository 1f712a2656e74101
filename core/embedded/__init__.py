"""The embedded CPU backend: a synthetic verifiable task, a tiny Qwen2 trained from scratch, and an
RL trainer that calls the same loss entry point as verl's workers (``core.loss.harness_loss``).

Importing this package registers, without importing torch, the ``synth`` grader, the benchmarks
``synth_1`` .. ``synth_8`` (7 and 8: preset=discriminating's harder ones) and (when
``core.eval.generation`` exists) the ``"embedded"`` generator.
"""

from core.embedded import task

task.register()

try:  # the generator registry belongs to the evaluation layer; register ours when it exists
    from core.eval.generation import register_generator as _register_generator
except ImportError:  # pragma: no cover - evaluation layer not installed yet
    _register_generator = None

if _register_generator is not None:
    def _make_embedded_generator(**kw):
        from core.embedded.generator import EmbeddedGenerator

        return EmbeddedGenerator(**kw)

    try:
        _register_generator("embedded", _make_embedded_generator)
    except ValueError:  # already registered
        pass

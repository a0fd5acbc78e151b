"""The captioner. VLM backends run on tiny randomly initialised checkpoints built here, saved, and loaded through
the same from_pretrained path as the real hub models (random weights: we test prompts, images, batching, guards
and quantisation, not words). The offline captioner runs the pack's real EfficientNet-Lite0 weights."""
import io

import pytest
import torch
from PIL import Image

from agents.captioner import CaptionerAgent
from agents.captioner.hf import HfCaptioner, panorama
from agents.captioner.settings import CaptionerSettings
from agents.errors import ConfigError
from agents.models import resolve_model
from schemas import Keyframe, Scene
from tests import media

CHAT = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}<image>"
        "{% else %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %} ASSISTANT:")


def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_model("minilm").location)
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    return tok


def tiny_text(tok, **kw):
    from transformers import LlamaConfig

    return LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                       num_key_value_heads=2, vocab_size=len(tok), pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.sep_token_id, bos_token_id=tok.cls_token_id, **kw)


def tiny_vision():
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                            image_size=32, patch_size=8, projection_dim=32)


@pytest.fixture(scope="session")
def tiny_llava_next(tmp_path_factory):
    from transformers import (LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextImageProcessor,
                              LlavaNextProcessor)

    torch.manual_seed(0)
    tok = tokenizer()
    cfg = LlavaNextConfig(vision_config=tiny_vision(), text_config=tiny_text(tok),
                          image_token_index=tok.convert_tokens_to_ids("<image>"), image_grid_pinpoints=[[32, 32]])
    d = tmp_path_factory.mktemp("tiny-llava-next")
    LlavaNextForConditionalGeneration(cfg).save_pretrained(d)
    ip = LlavaNextImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32},
                                 image_grid_pinpoints=[[32, 32]])
    LlavaNextProcessor(image_processor=ip, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                       image_token="<image>", num_additional_image_tokens=1, chat_template=CHAT).save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory):
    """A third architecture, plain LLaVA, which goes through the generic image-text-to-text Auto classes."""
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    torch.manual_seed(1)
    tok = tokenizer()
    cfg = LlavaConfig(vision_config=tiny_vision(), text_config=tiny_text(tok),
                      image_token_index=tok.convert_tokens_to_ids("<image>"))
    d = tmp_path_factory.mktemp("tiny-llava")
    LlavaForConditionalGeneration(cfg).save_pretrained(d)
    ip = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    LlavaProcessor(image_processor=ip, tokenizer=tok, patch_size=8, vision_feature_select_strategy="default",
                   image_token="<image>", num_additional_image_tokens=1, chat_template=CHAT).save_pretrained(d)
    return d


def jpeg(path, size=None) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        if size:
            im = im.resize(size)
        buf = io.BytesIO()
        im.save(buf, "JPEG")
        return buf.getvalue()


def scenes(n, frames=2):
    pics = [jpeg(media.bus_jpg(), (64, 48)), jpeg(media.zidane_jpg(), (64, 48))]
    return [Scene("v", i, i * 2.0, i * 2.0 + 2.0, [Keyframe(i * 2.0 + f, pics[(i + f) % 2], 64, 48)
                                                   for f in range(frames)]) for i in range(n)]


def agent(model_dir, **options) -> CaptionerAgent:
    a = CaptionerAgent.from_options({"model": str(model_dir), "max_new_tokens": 6, **options})
    a.setup()
    return a


def test_llava_next_prompt_and_images(tiny_llava_next):
    a = agent(tiny_llava_next)
    eng = a.engine
    assert eng.backend == "llava-next" and eng.generation["num_beams"] == 1
    assert eng.prompt(2) == "USER: <image><image>Describe this video scene in one or two factual sentences. ASSISTANT:"
    from agents.captioner.hf import decode_images

    batch = eng.inputs([decode_images([k.jpeg for k in s.keyframes]) for s in scenes(3)])
    assert batch["pixel_values"].shape[0] == 6  # two frames a scene, three scenes
    image_id = eng.processor.tokenizer.convert_tokens_to_ids("<image>")
    assert ((batch["input_ids"] == image_id).sum(dim=1) > 0).all()
    assert eng.processor.tokenizer.padding_side == "left"


@pytest.mark.parametrize("fixture", ["tiny_llava_next", "tiny_llava"])
def test_batched_greedy_equals_single_calls(fixture, request):
    a = agent(request.getfixturevalue(fixture))
    from agents.captioner.hf import decode_images

    imgs = [decode_images([k.jpeg for k in s.keyframes]) for s in scenes(4)]
    _, batched, _ = a.engine.generate(imgs)
    single = [a.engine.generate([x])[1][0] for x in imgs]
    assert batched == single
    assert all(len(ids) > 0 for ids in batched)


def test_agent_records_carry_latency_model_and_times(tiny_llava_next):
    a = agent(tiny_llava_next)
    out = a.process_batch(scenes(3) + [Scene("v", 3, 6.0, 8.0, [], last=True)])
    assert [c.index for c in out] == [0, 1, 2, 3]
    assert all(c.model == str(tiny_llava_next) and c.error is None and c.latency > 0 for c in out[:3])
    assert out[0].keyframe_times == [0.0, 1.0]
    assert out[3].error == "no keyframes" and out[3].last
    assert a.max_batch == 8 and a.batch_wait == 0.05


def test_generic_backend_for_other_architectures(tiny_llava):
    a = agent(tiny_llava)
    assert a.engine.backend == "generic"
    [c] = a.process(scenes(1)[0])
    assert c.error is None


def test_panorama_is_frames_side_by_side():
    out = panorama([Image.new("RGB", (597, 336)), Image.new("RGB", (597, 336))])
    assert out.size == (1194, 336)
    mixed = panorama([Image.new("RGB", (600, 400)), Image.new("RGB", (300, 200))])
    assert mixed.size == (600, 200)  # scaled to the smaller height: 300 + 300


def test_instructblip_stitches_frames_and_uses_beam_search():
    eng = HfCaptioner.__new__(HfCaptioner)
    eng.settings = CaptionerSettings.from_options({"backend": "instructblip", "model": "x"})
    eng.backend = "instructblip"
    calls = []
    eng.processor = lambda **kw: calls.append(kw) or {}
    imgs = [Image.new("RGB", (597, 336), "red"), Image.new("RGB", (597, 336), "blue")]
    eng.inputs([imgs])
    [call] = calls
    assert call["text"] == [eng.settings.prompt] and [im.size for im in call["images"]] == [(1194, 336)]
    assert eng.settings.generation("instructblip") == {"max_new_tokens": 256, "num_beams": 5, "min_length": 10}


def test_phi35_vision_prompt_and_images():
    eng = HfCaptioner.__new__(HfCaptioner)
    eng.settings = CaptionerSettings.from_options({"backend": "phi3v"})
    eng.backend = "phi3v"
    assert eng.settings.model == "microsoft/Phi-3.5-vision-instruct"
    calls = []
    eng.processor = lambda *a, **kw: calls.append((a, kw)) or {}
    imgs = [Image.new("RGB", (64, 48)), Image.new("RGB", (64, 48))]
    eng.inputs([imgs])
    [(args, kw)] = calls
    assert args[0] == ("<|user|>\n<|image_1|>\n<|image_2|>\nDescribe this video scene in one or two factual "
                       "sentences.<|end|>\n<|assistant|>\n")
    assert args[1] == imgs and kw == {"return_tensors": "pt"}
    with pytest.raises(ValueError):
        eng.inputs([imgs, imgs])  # its processor takes one prompt: generate() loops over scenes instead


@pytest.mark.parametrize("mode,layer", [("4bit", "Linear4bit"), ("8bit", "Linear8bitLt")])
def test_quantised_paths_run_for_real_on_the_cpu(tiny_llava_next, mode, layer):
    a = agent(tiny_llava_next, quantization=mode)
    kinds = {type(m).__name__ for m in a.engine.model.modules()}
    assert layer in kinds
    if mode == "4bit":
        qc = a.engine.model.config.quantization_config
        assert qc.bnb_4bit_quant_type == "nf4"
    [c] = a.process(scenes(1)[0])
    assert c.error is None


@pytest.fixture(scope="session")
def runaway(tiny_llava_next, tmp_path_factory):
    """The tiny LLaVA-Next rewired so one token always wins and end-of-sequence never comes: every layer's output
    projection zeroed (the residual stream is the last token's embedding), every embedding the same, and only
    token 2000's output row non-zero."""
    from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor

    model = LlavaNextForConditionalGeneration.from_pretrained(tiny_llava_next)
    with torch.no_grad():
        for name, module in model.named_modules():
            if name.endswith(("o_proj", "down_proj")):
                module.weight.zero_()
        model.get_input_embeddings().weight.fill_(1.0)
        head = model.get_output_embeddings()
        head.weight.zero_()
        head.weight[2000] = 10.0
    d = tmp_path_factory.mktemp("runaway")
    model.save_pretrained(d)
    LlavaNextProcessor.from_pretrained(tiny_llava_next).save_pretrained(d)
    return d


def test_repetition_guard_stops_a_runaway(runaway):
    a = agent(runaway, max_new_tokens=200)
    _, ids, guards = a.engine.generate([[Image.new("RGB", (64, 48))]])
    assert ids[0] and set(ids[0]) == {2000}  # the model really runs away ...
    assert len(ids[0]) == 3 and guards["repetition_stopped"] == 1  # ... and is cut after 3 repeats, not 200


def test_time_limit_stops_a_runaway(runaway):
    a = agent(runaway, max_new_tokens=100000, repeat_times=1_000_000, time_limit=0.5)
    _, ids, guards = a.engine.generate([[Image.new("RGB", (64, 48))]])
    assert guards["deadline_hit"] and 0 < len(ids[0]) < 100000


def test_impossible_options_fail_at_start_up_with_one_line(tiny_llava_next):
    with pytest.raises(ConfigError, match="flash_attention_2 needs a CUDA device"):
        agent(tiny_llava_next, attn="flash_attention_2")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            agent(tiny_llava_next, device="cuda")
    with pytest.raises(ConfigError):
        CaptionerAgent.from_options({"quantization": "3bit"})


def test_offline_captioner_names_the_bus():
    a = CaptionerAgent.from_options({})
    assert a.settings.backend == "offline"
    a.setup()
    bus = jpeg(media.bus_jpg())
    [c] = a.process(Scene("v", 0, 0.0, 2.0, [Keyframe(0.0, bus), Keyframe(1.0, bus)]))
    assert c.model == "offline:efficientnet-lite0" and c.error is None
    assert {"minibus", "school bus", "trolleybus", "passenger car", "streetcar"} & set(c.labels), c.labels
    assert "minibus" in c.caption


@pytest.fixture(scope="session")
def tiny_instructblip(tmp_path_factory):
    from transformers import (BlipImageProcessor, InstructBlipConfig, InstructBlipForConditionalGeneration,
                              InstructBlipProcessor, InstructBlipQFormerConfig, InstructBlipVisionConfig)

    torch.manual_seed(2)
    tok = tokenizer()
    vc = InstructBlipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                  image_size=32, patch_size=8)
    qc = InstructBlipQFormerConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                   vocab_size=len(tok), encoder_hidden_size=32, pad_token_id=0)
    cfg = InstructBlipConfig(vision_config=vc.to_dict(), qformer_config=qc.to_dict(),
                             text_config=tiny_text(tok).to_dict(), num_query_tokens=4,
                             image_token_index=tok.convert_tokens_to_ids("<image>"))
    d = tmp_path_factory.mktemp("tiny-instructblip")
    InstructBlipForConditionalGeneration(cfg).save_pretrained(d)
    InstructBlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=tok,
                          qformer_tokenizer=tok, num_query_tokens=4).save_pretrained(d)
    return d


def test_instructblip_checkpoint_loads_and_batches_like_single_calls(tiny_instructblip):
    a = agent(tiny_instructblip, max_new_tokens=12)
    eng = a.engine
    assert eng.backend == "instructblip" and eng.generation == {"max_new_tokens": 12, "num_beams": 5, "min_length": 10}
    from agents.captioner.hf import decode_images

    imgs = [decode_images([k.jpeg for k in s.keyframes]) for s in scenes(3)]
    batch = eng.inputs(imgs)
    assert batch["pixel_values"].shape == (3, 3, 32, 32)  # one stitched panorama per scene
    _, batched, _ = eng.generate(imgs)
    assert batched == [eng.generate([x])[1][0] for x in imgs]
    assert all(len(ids) >= 10 for ids in batched)  # min length 10

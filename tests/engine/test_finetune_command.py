"""`python -m llama_lab.finetune` on a small random model and a handful of dialogs written here: the loss on the
assistant's tokens (by Meta's format, written out by hand), one clear line for every kind of bad line with nothing
written, exact --resume, the adapter against peft's PeftModel, the merged model, the validation loss going down."""

import json
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file

from support import REPO, llama2_tokenizer_file, one_thread, small_model  # noqa: F401 (one_thread: a fixture)
from llama_lab import finetune
from llama_lab.checkpoint import load_adapter, load_model, save_model
from llama_lab.fast.loss import IGNORE
from llama_lab.lora import lora_layers, unload_lora
from llama_lab.tokenizer import Tokenizer
from llama_lab.nf4 import NF4Linear
from llama_lab.train import TrainConfig, build_or_load_model, chat_example, split_dialogs

KIT_TOKENIZER = REPO / "data" / "tokenizer.model"
THINGS = ["kite", "boat", "ball", "drum", "cup", "hat", "sock", "book", "lamp", "door", "bell", "coat"]


def dialog(thing: str, system: bool = False) -> dict:
    messages = [{"role": "user", "content": f"What colour is the {thing}?"},
                {"role": "assistant", "content": f"The {thing} is blue."}]
    if system:
        messages.insert(0, {"role": "system", "content": "Answer briefly."})
    return {"messages": messages}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A small random Llama with the kit's 4096-piece tokenizer beside it, as the kit's tiny models keep theirs."""
    folder = tmp_path_factory.mktemp("models")
    model = small_model(vocab_size=4096, max_seq_len=64, multiple_of=64)  # NF4 takes blocks of 64 inputs
    save_model(model, folder / "small", format="kit")
    shutil.copyfile(KIT_TOKENIZER, folder / "tokenizer.model")
    return folder / "small"


def write_data(path, lines) -> str:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return str(path)


def run(model_dir, data, out, *flags):
    return finetune.main([str(data), "--out", str(out), "--model", str(model_dir), "--no-progress", *flags])


# ------------------------------------------------------------------------------------------------------------------
# The loss is on the assistant's tokens


@pytest.mark.parametrize("tokenizer_file", ["kit", "llama2"])
def test_the_loss_is_on_the_assistants_tokens_only(tokenizer_file):
    tokenizer = Tokenizer(KIT_TOKENIZER if tokenizer_file == "kit" else llama2_tokenizer_file())
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is Tom?"},
                {"role": "assistant", "content": "In the park."}, {"role": "user", "content": " And Mia? "},
                {"role": "assistant", "content": "At home."}]
    # Meta's chat_completion, written out: the system prompt folded into the first user message, each exchange
    # "<s>[INST] {user} [/INST] {answer} </s>", every message stripped
    first_prompt = "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nWhere is Tom? [/INST]"
    exchanges = [(first_prompt, first_prompt + " In the park. "),
                 ("[INST] And Mia? [/INST]", "[INST] And Mia? [/INST] At home. ")]
    ids, answers = [], []
    for prompt, whole in exchanges:
        prompt_ids = tokenizer.encode(prompt, bos=True, eos=False)
        whole_ids = tokenizer.encode(whole, bos=True, eos=True)
        assert whole_ids[:len(prompt_ids)] == prompt_ids
        answers.append(whole_ids[len(prompt_ids):])  # the answer's pieces and EOS
        ids += whole_ids
    inputs, targets = chat_example(tokenizer, messages, seq_len=200)
    assert inputs == ids[:-1]
    scored = [t for t in targets if t != IGNORE]
    assert scored == answers[0] + answers[1]
    assert [tokenizer.decode(a[:-1]).strip() for a in answers] == ["In the park.", "At home."]
    assert answers[0][-1] == answers[1][-1] == tokenizer.eos_id
    # every target before an answer's first token is ignored: the prompts, the system prompt and the tags
    first_scored = targets.index(answers[0][0])
    assert all(t == IGNORE for t in targets[:first_scored])


def test_the_validation_share_is_drawn_by_the_seed_alone():
    dialogs = [dialog(t) for t in THINGS[:10]]
    train, held_out = split_dialogs(dialogs, 0.2, seed=42)
    assert len(held_out) == 2 and len(train) == 8
    assert [d for d in dialogs if d not in held_out] == train  # both keep the file's order
    assert split_dialogs(dialogs, 0.2, seed=42) == (train, held_out)
    assert any(split_dialogs(dialogs, 0.2, seed=s)[1] != held_out for s in range(3))
    assert len(split_dialogs(dialogs[:3], 0.01, seed=0)[1]) == 1  # at least one to validate on


# ------------------------------------------------------------------------------------------------------------------
# Bad lines: one line naming file:line, status 2, nothing written

GOOD = dialog("kite")
LONG = {"messages": [{"role": "user", "content": "Tell me a story."},
                     {"role": "assistant", "content": "Once upon a time " * 40}]}
BAD_LINES = {
    "not JSON": ('{"messages": [', r"this line is not JSON"),
    "a list": ([GOOD["messages"]], r"expected an object with a non-empty \"messages\" list, got a JSON list"),
    "no messages": ({"dialog": GOOD["messages"]}, r"got an object with the keys \['dialog'\]"),
    "a message without content": ({"messages": [{"role": "user"}]}, r"message 0 is .*\"role\" and \"content\""),
    "a role": ({"messages": [{"role": "human", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
               r"message 0 has the role 'human': use \"system\", \"user\" or \"assistant\""),
    "two users": ({"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"}]},
                  r"the roles are user, user: Meta's Llama-2-chat format takes an optional system message first"),
    "a late system": ({"messages": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be kind"},
                                    {"role": "assistant", "content": "Hello"}]},
                      r"the roles are user, system, assistant"),
    "ending on the user": ({"messages": [{"role": "user", "content": "Hi"}]}, r"the roles are user: .*ending with"),
    "empty content": ({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "  "}]},
                      r"message 1 \(assistant\) has empty content"),
    "a number": ({"messages": [{"role": "user", "content": 7}, {"role": "assistant", "content": "Seven"}]},
                 r"message 0 \(user\) has the content 7, a JSON int: give its text as a string"),
    "a tag": ({"messages": [{"role": "user", "content": "Hi [INST]"}, {"role": "assistant", "content": "Hello"}]},
              r"holds '\[INST\]', which Meta's format keeps for itself"),
    "too long": (LONG, r"the dialog is \d+ tokens long and the model's context is 64"),
}


@pytest.mark.parametrize("kind", sorted(BAD_LINES))
def test_each_bad_line_is_one_error_naming_file_and_line_and_nothing_is_written(kind, model_dir, tmp_path, capsys):
    line, message = BAD_LINES[kind]
    data = write_data(tmp_path / "mine.jsonl", [GOOD, dialog("boat", system=True), "", line, GOOD])
    with pytest.raises(SystemExit) as stopped:
        run(model_dir, data, tmp_path / "run")
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {data}:4: "), err
    assert re.search(message, err), err
    assert not (tmp_path / "run").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.jsonl"]


def test_a_file_that_is_not_utf8_is_refused_at_its_byte_and_line(model_dir, tmp_path, capsys):
    good = json.dumps(GOOD).encode() + b"\n"
    bad = json.dumps(dialog("caf\u00e9")).encode().replace(b"\\u00e9", b"\xe9")  # Latin-1's e-acute
    (tmp_path / "latin1.jsonl").write_bytes(good + good + bad + b"\n")
    with pytest.raises(SystemExit) as stopped:
        run(model_dir, tmp_path / "latin1.jsonl", tmp_path / "run")
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.count("\n") == 1
    offset = 2 * len(good) + bad.index(b"\xe9")
    assert f"is not UTF-8 text (byte 0xe9 at offset {offset}, line 3)" in err, err
    assert not (tmp_path / "run").exists()


def test_an_out_with_someone_elses_files_or_the_model_is_refused_untouched(model_dir, tmp_path, capsys):
    data = write_data(tmp_path / "mine.jsonl", [dialog(t) for t in THINGS[:4]])
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    before = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    for out, flags, message in [(tmp_path / "notes", [], "already holds files (todo.txt)"),
                                (tmp_path / "notes", ["--resume"], "holds no checkpoint.pt"),
                                (model_dir, [], "is the model's folder"),
                                (model_dir / "adapter", [], "is the model's folder (or inside it)")]:
        with pytest.raises(SystemExit) as stopped:
            run(model_dir, data, out, *flags)
        err = capsys.readouterr().err
        assert stopped.value.code == 2 and message in err and err.count("\n") == 1, err
    assert [p.name for p in (tmp_path / "notes").iterdir()] == ["todo.txt"]
    assert {p.name: p.read_bytes() for p in model_dir.iterdir()} == before


@pytest.mark.parametrize("method, message", [("qlora", "QLoRA's base is NF4, whose integers cannot hold W0 + B A"),
                                             ("full", "--method full trains the model itself")])
def test_merging_without_adapters_to_merge_is_refused_before_anything_is_written(method, message, model_dir, tmp_path,
                                                                                  capsys):
    data = write_data(tmp_path / "mine.jsonl", [dialog(t) for t in THINGS[:4]])
    with pytest.raises(SystemExit) as stopped:
        run(model_dir, data, tmp_path / "run", "--method", method, "--merge")
    assert stopped.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------------------------------------------------------
# Training, saving, resuming


def test_lora_lowers_validation_loss_and_saves_an_adapter_peft_loads_and_a_merged_model(model_dir, tmp_path):
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    data = write_data(tmp_path / "mine.jsonl", [dialog(t, system=i % 3 == 0) for i, t in enumerate(THINGS)])
    summary = run(model_dir, data, tmp_path / "run", "--lr", "1e-2", "--steps", "12", "--val-share", "0.25",
                  "--lora-targets", "q_proj,v_proj,w2", "--merge", "hf")
    val = summary["history"]["val"]
    assert val[0][0] == 0 and val[-1][0] == 12
    assert val[-1][1] < val[0][1] - 0.5, val  # 3 dialogs held out, learned from the 9 others
    config = json.loads((tmp_path / "run" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], config["lora_dropout"]) == (8, 32.0, 0.05)  # llama-recipes'
    assert sorted(config["target_modules"]) == ["down_proj", "q_proj", "v_proj"]

    kit = load_adapter(load_model(model_dir), tmp_path / "run").eval()
    assert {name.rpartition(".")[2] for name in lora_layers(kit)} == {"wq", "wv", "w2"}
    tokens = torch.randint(3, 4096, (2, 12), generator=torch.Generator().manual_seed(0))
    save_model(load_model(model_dir), tmp_path / "hf", format="hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32)
    hf = peft.PeftModel.from_pretrained(hf, tmp_path / "run").eval()
    with torch.no_grad():
        expected, ours, base = hf(tokens).logits, kit(tokens), load_model(model_dir)(tokens)
    assert (expected - base).abs().max() > 1e-2  # the adapter is there and matters
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)

    assert (tmp_path / "run" / "merged" / "config.json").is_file()  # Hugging Face's layout, with the tokenizer
    assert (tmp_path / "run" / "merged" / "tokenizer.model").read_bytes() == KIT_TOKENIZER.read_bytes()
    merged = load_model(tmp_path / "run" / "merged").state_dict()
    by_hand = unload_lora(kit).state_dict()  # W0 + alpha / r * B A in every adapted layer
    assert set(merged) == set(by_hand)
    for name, weight in by_hand.items():
        assert torch.equal(merged[name], weight), name


@pytest.mark.parametrize("method", ["lora", "qlora", "full"])
def test_a_run_stopped_and_resumed_ends_bit_for_bit_as_one_that_never_stopped(method, model_dir, tmp_path):
    """Batch s and the dropout's draws depend on the seed and the step alone, and the checkpoint holds the weights,
    AdamW's moments and the random state: the resumed run does the same arithmetic in the same order."""
    data = write_data(tmp_path / "mine.jsonl", [dialog(t, system=i % 2 == 0) for i, t in enumerate(THINGS[:8])])
    flags = ["--method", method, "--steps", "4", "--lr", "1e-3", "--eval-interval", "2", "--batch-size", "2",
             "--val-share", "0.25", *(["--gradient-checkpointing"] if method == "qlora" else [])]
    straight = run(model_dir, data, tmp_path / "straight", *flags)
    stopped = run(model_dir, data, tmp_path / "resumed", *flags, "--until", "2")
    assert not stopped["finished"] and not any(p.name.startswith("adapter") for p in (tmp_path / "resumed").iterdir())
    resumed = run(model_dir, data, tmp_path / "resumed", *flags, "--resume")
    for key in ("train", "val", "tokens"):
        assert resumed["history"][key] == straight["history"][key], key
    weights = "model.safetensors" if method == "full" else "adapter_model.safetensors"
    a, b = (load_file(tmp_path / run_dir / weights) for run_dir in ("straight", "resumed"))
    assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)
    kept = torch.load(tmp_path / "resumed" / "checkpoint.pt", weights_only=True)["model"]
    if method != "full":  # the adapters alone: the frozen base is the model's, made again on --resume
        assert kept and all(".lora_A" in name or ".lora_B" in name for name in kept), sorted(kept)[:3]
    if method == "qlora":  # the adapter of an NF4 base, which the kit loads onto the floating-point model
        assert load_adapter(load_model(model_dir), tmp_path / "resumed") is not None


def test_qlora_stores_the_blocks_projections_in_nf4_and_trains_the_adapters_alone(model_dir, tmp_path):
    config = TrainConfig(stage="chat", init=str(model_dir), tokenizer=str(KIT_TOKENIZER), out=str(tmp_path / "run"),
                         method="qlora", lora_targets="wq,wv")
    model = build_or_load_model(config, Tokenizer(KIT_TOKENIZER), torch.device("cpu"))
    projections = [m for name, m in model.named_modules() if name.startswith("layers.")
                   and name.rpartition(".")[2] in ("wq", "wk", "wv", "wo", "w1", "w2", "w3")]
    assert len(projections) == 7 * model.args.n_layers
    assert all(isinstance(getattr(m, "base", m), NF4Linear) for m in projections)
    assert type(model.output) is torch.nn.Linear and not model.output.weight.requires_grad  # as QLoRA's lm_head
    assert set(lora_layers(model)) == {f"layers.{i}.attention.{t}" for i in range(model.args.n_layers)
                                       for t in ("wq", "wv")}
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        f"{name}.lora_{m}" for name in lora_layers(model) for m in "AB"}

"""A random checkpoint in the reference configuration of our benchmarks, written by transformers.

CLIP 4 layers × 128 (intermediate 512, 64 px, patch 8), Llama 4 layers × 256 (intermediate 688, 4 heads,
vocab 1024), with a byte-level BPE tokenizer of 1024 tokens trained by the `tokenizers` library.

    venv/bin/python scripts/make_reference_model.py --out /tmp/reference-model [--seed 0]
"""
import argparse
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

SPECIALS = ["<s>", "</s>", "<pad>", "<image>"]
WORDS = ("what colour is the circle square triangle star left right top bottom how many shapes are there red green "
         "blue yellow purple orange white black big small which one is larger read the letter digit plus minus yes no "
         "USER ASSISTANT image picture object next to above below").split()


def tokenizer(vocabulary: int, seed: int) -> Tokenizer:
    generator = torch.Generator().manual_seed(seed)
    corpus = [" ".join(WORDS[i] for i in torch.randint(len(WORDS), (12,), generator=generator).tolist()) + "?"
              for _ in range(4000)]
    model = Tokenizer(models.BPE())
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocabulary, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    model.train_from_iterator(corpus, trainer)
    model.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 0)])
    return model


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tok = tokenizer(1024, args.seed)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text('{"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>"}\n')
    vision = CLIPVisionConfig(hidden_size=128, intermediate_size=512, num_hidden_layers=4, num_attention_heads=4,
                              image_size=64, patch_size=8, projection_dim=128)
    text = LlamaConfig(vocab_size=1024, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                       num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=512,
                       bos_token_id=0, eos_token_id=1, pad_token_id=2)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_index=tok.token_to_id("<image>"),
                         image_seq_length=64)
    torch.manual_seed(args.seed)
    LlavaForConditionalGeneration(config).save_pretrained(out)
    CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}).save_pretrained(out)
    print(out)


if __name__ == "__main__":
    main()

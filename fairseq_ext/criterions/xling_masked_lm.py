"""Masked-LM loss that also reports the loss and perplexity of every language."""

import math

import torch
from fairseq import metrics, modules, utils
from fairseq.criterions import register_criterion
from fairseq.criterions.masked_lm import MaskedLmConfig, MaskedLmLoss


@register_criterion("xling_masked_lm", dataclass=MaskedLmConfig)
class XlingMaskedLmLoss(MaskedLmLoss):
    """fairseq's masked-LM loss plus ``loss_<lang>`` / ``ppl_<lang>`` for every language.

    Every logging output carries a key for every language (zero when absent), so the
    outputs of different workers can still be summed in one all-reduce.
    """

    def __init__(self, cfg: MaskedLmConfig, task):
        super().__init__(cfg, task)
        self.langs = list(getattr(task, "langs", None) or [])

    def forward(self, model, sample, reduce=True):
        target = sample["target"]
        masked_tokens = target.ne(self.padding_idx)
        sample_size = masked_tokens.int().sum()
        if masked_tokens.device.type == "cpu":
            if not masked_tokens.any():
                masked_tokens = None  # rare: nothing masked, project every token
        else:
            # no host sync on accelerators: torch.where instead of a Python branch
            masked_tokens = torch.where(masked_tokens.any(), masked_tokens, masked_tokens.new([True]))

        logits = model(**sample["net_input"], masked_tokens=masked_tokens)[0]
        targets = target[masked_tokens] if masked_tokens is not None else target.view(-1)
        token_loss = modules.cross_entropy(
            logits.view(-1, logits.size(-1)),
            targets.view(-1),
            reduction="none",
            ignore_index=self.padding_idx,
        )
        loss = token_loss.sum()

        logging_output = {
            "loss": loss.data,
            "ntokens": sample["ntokens"],
            "nsentences": sample["nsentences"],
            "sample_size": sample_size,
        }
        lang_ids = sample["net_input"].get("src_lang_id")
        if self.langs and lang_ids is not None:
            if masked_tokens is None:
                token_lang = lang_ids[:, None].expand_as(target).reshape(-1)
            else:
                token_lang = lang_ids[:, None].expand_as(masked_tokens)[masked_tokens]
            counted = targets.view(-1).ne(self.padding_idx)
            num_langs = len(self.langs)
            lang_loss = token_loss.detach().new_zeros(num_langs).index_add_(
                0, token_lang, token_loss.detach() * counted
            )
            lang_size = torch.bincount(token_lang[counted], minlength=num_langs)
            for i, lang in enumerate(self.langs):
                logging_output[f"loss_{lang}"] = lang_loss[i]
                logging_output[f"sample_size_{lang}"] = lang_size[i]
        return loss, sample_size, logging_output

    @staticmethod
    def reduce_metrics(logging_outputs) -> None:
        MaskedLmLoss.reduce_metrics(logging_outputs)
        langs = sorted(
            {key[len("sample_size_") :] for log in logging_outputs for key in log if key.startswith("sample_size_")}
        )
        for lang in langs:
            size = sum(log.get(f"sample_size_{lang}", 0) for log in logging_outputs)
            if size > 0:  # a language can be absent from a logging interval
                loss = sum(log.get(f"loss_{lang}", 0) for log in logging_outputs)
                metrics.log_scalar(f"loss_{lang}", loss / size / math.log(2), size, round=3)
                metrics.log_derived(
                    f"ppl_{lang}",
                    lambda meters, key=f"loss_{lang}": utils.get_perplexity(meters[key].avg),
                )

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True

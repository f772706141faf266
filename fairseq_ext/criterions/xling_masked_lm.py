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
        net_input = sample["net_input"]
        counted = target.ne(self.padding_idx)
        sample_size = counted.int().sum()
        # nothing masked (rare): project every token; decided on the device, not on the host
        masked_tokens = torch.where(counted.any(), counted, counted.new([True]))
        # ntokens (a host int) counts the non-pad tokens: the encoder need not ask the device for pads
        has_pads = sample["ntokens"] != net_input["src_tokens"].numel()

        logits, extra = model(**net_input, masked_tokens=masked_tokens, has_pads=has_pads)
        # the model projects the masked positions in row-major order; the logits' row count
        # sizes their indices, so the mask is not read back to the host a second time
        rows = torch.nonzero_static(masked_tokens.view(-1), size=logits.size(0)).view(-1)
        targets = target.view(-1)[rows]
        if extra.get("output_rows") is not None:  # logits over the language's own vocabulary
            targets = extra["output_rows"][targets]
        token_loss = modules.cross_entropy(
            logits.view(-1, logits.size(-1)),
            targets,
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
        lang_ids = net_input.get("src_lang_id")
        if self.langs and lang_ids is not None:
            # summed per language on the device: each row's sentence is its index // length
            num_langs = len(self.langs)
            token_lang = lang_ids[rows // target.size(1)]
            lang_loss = token_loss.detach().new_zeros(num_langs).index_add_(0, token_lang, token_loss.detach())
            lang_size = lang_ids.new_zeros(num_langs).index_add_(0, lang_ids, counted.sum(1))
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
        sums = [sum(log.get(f"sample_size_{lang}", 0) for log in logging_outputs) for lang in langs]
        # read to the host at once (one sync, not two per language), so the meters get numbers
        sizes = torch.stack([torch.as_tensor(size) for size in sums]).tolist() if sums else []
        for lang, size in zip(langs, sizes):
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

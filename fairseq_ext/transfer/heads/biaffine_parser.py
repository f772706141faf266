"""Graph-based biaffine dependency parser (Dozat & Manning, 2017) on first-subword
features. The sentence's <s> representation stands for the root. Training scores every
head for every word (arc cross-entropy) and the relation at the gold head; prediction
decodes the maximum spanning tree with one root child, then the relation at each
predicted head."""

from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from fairseq_ext.transfer.examples import ParsedSentence
from fairseq_ext.transfer.heads.mst import max_spanning_tree
from fairseq_ext.transfer.heads.words import gather_words
from fairseq_ext.transfer.metrics import attachment_scores

IGNORE = -100
UNPARSED = "_"  # the relation given to words past the model's length limit


def mlp(dim: int, out_dim: int, dropout: float) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, out_dim), nn.LeakyReLU(0.1), nn.Dropout(dropout))


class BiaffineParserHead(nn.Module):
    metric = "las"

    def __init__(
        self, dim: int, relations: Sequence[str], arc_dim: int = 512, relation_dim: int = 128, dropout: float = 0.33
    ):
        super().__init__()
        self.relations = list(relations)
        self.relation_ids = {relation: i for i, relation in enumerate(self.relations)}
        self.dropout = nn.Dropout(dropout)
        self.arc_dependent, self.arc_head = mlp(dim, arc_dim, dropout), mlp(dim, arc_dim, dropout)
        self.relation_dependent = mlp(dim, relation_dim, dropout)
        self.relation_head = mlp(dim, relation_dim, dropout)
        self.arc_weight = nn.Parameter(torch.empty(arc_dim, arc_dim))
        self.arc_head_bias = nn.Parameter(torch.zeros(arc_dim))
        # a trailing 1 on both sides folds the linear and bias terms into one bilinear form
        self.relation_weight = nn.Parameter(torch.empty(len(self.relations), relation_dim + 1, relation_dim + 1))
        nn.init.xavier_uniform_(self.arc_weight)
        nn.init.xavier_uniform_(self.relation_weight)

    @classmethod
    def from_config(cls, dim: int, relations: Sequence[str], head_cfg) -> "BiaffineParserHead":
        """The head of ``head_cfg`` (transfer.config.HeadConfig) over ``dim``-wide features."""
        return cls(dim, relations, head_cfg.arc_dim, head_cfg.relation_dim, head_cfg.dropout)

    @staticmethod
    def label_set(examples: Sequence[ParsedSentence]) -> List[str]:
        return sorted({relation for example in examples for relation in example.relations})

    def targets(self, example: ParsedSentence) -> Dict[str, torch.Tensor]:
        return {
            "heads": torch.tensor(example.heads),
            "relations": torch.tensor([self.relation_ids[r] for r in example.relations]),
        }

    def _nodes(self, features, batch):
        """Root (<s>) + words: B x (W+1) x C, and which of them exist."""
        nodes = torch.cat([features[:, :1], gather_words(features, batch.word_positions)], dim=1)
        root = batch.word_mask.new_ones(len(nodes), 1)
        return self.dropout(nodes), torch.cat([root, batch.word_mask], dim=1)

    def _arc_scores(self, nodes, exists):
        """B x (W+1) x (W+1): [b, d, h] scores node h as the head of node d."""
        dependents, heads = self.arc_dependent(nodes), self.arc_head(nodes)
        scores = torch.einsum("bde,ef,bhf->bdh", dependents, self.arc_weight, heads)
        scores = scores + (heads @ self.arc_head_bias).unsqueeze(1)
        no_arc = ~exists.unsqueeze(1) | torch.eye(len(exists[0]), dtype=torch.bool, device=nodes.device)
        return scores.masked_fill(no_arc, float("-inf"))

    def _relation_scores(self, nodes, heads):
        """B x W x R: the relation of each word to the given head (B x W node indices)."""
        dependents = self.relation_dependent(nodes[:, 1:])
        head_nodes = self.relation_head(nodes).gather(1, heads.unsqueeze(-1).expand(-1, -1, dependents.size(-1)))
        ones = dependents.new_ones(*dependents.shape[:2], 1)
        return torch.einsum(
            "bwi,rij,bwj->bwr", torch.cat([dependents, ones], -1), self.relation_weight, torch.cat([head_nodes, ones], -1)
        )

    def _gold(self, batch):
        """Gold heads and relations, IGNORE where a word or its head is past the length limit."""
        heads, relations = batch.targets["heads"], batch.targets["relations"]
        fits = batch.word_mask & (heads <= batch.word_mask.sum(1, keepdim=True))
        return heads.masked_fill(~fits, IGNORE), relations.masked_fill(~fits, IGNORE)

    def loss(self, features, batch) -> torch.Tensor:
        nodes, exists = self._nodes(features, batch)
        heads, relations = self._gold(batch)
        arc_scores = self._arc_scores(nodes, exists)[:, 1:]
        arc_loss = F.cross_entropy(arc_scores.flatten(0, 1), heads.flatten(), ignore_index=IGNORE)
        relation_scores = self._relation_scores(nodes, heads.clamp(min=0))
        relation_loss = F.cross_entropy(relation_scores.flatten(0, 1), relations.flatten(), ignore_index=IGNORE)
        return arc_loss + relation_loss

    def predict(self, features, batch) -> List[Tuple[List[int], List[str]]]:
        """(heads, relations) per sentence; words past the length limit hang off the root, unlabelled."""
        nodes, exists = self._nodes(features, batch)
        log_probs = self._arc_scores(nodes, exists).log_softmax(-1).detach().cpu().numpy()
        n_fits = batch.word_mask.sum(1).tolist()
        tree_heads = torch.zeros_like(batch.word_positions)
        for i, n_fit in enumerate(n_fits):
            tree = max_spanning_tree(log_probs[i, : n_fit + 1, : n_fit + 1])
            tree_heads[i, :n_fit] = torch.from_numpy(tree[1:])
        best_relations = self._relation_scores(nodes, tree_heads).argmax(-1).tolist()
        predictions = []
        for heads, relations, n_words, n_fit in zip(tree_heads.tolist(), best_relations, batch.word_counts, n_fits):
            missing = n_words - n_fit
            predictions.append(
                (heads[:n_fit] + [0] * missing, [self.relations[r] for r in relations[:n_fit]] + [UNPARSED] * missing)
            )
        return predictions

    def score(self, examples: Sequence[ParsedSentence], predictions) -> Dict[str, float]:
        return attachment_scores([(e.heads, e.relations) for e in examples], predictions)

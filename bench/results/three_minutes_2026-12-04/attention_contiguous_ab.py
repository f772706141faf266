"""8 XlingEncoderLayers (64 dims, 32 x 64 tokens, bf16, one thread): fwd+bwd, the attention of before commit \"contiguous heads\" (old) against the shipped one (new), alternating in one process. Run from the repository root: taskset -c 0 .venv/bin/python bench/results/three_minutes_2026-12-04/attention_contiguous_ab.py"""
import sys, time
import torch, torch.nn.functional as F
sys.path.insert(0, ".")
from fairseq_ext.models import xling_roberta as xr
from fairseq.models.transformer import TransformerConfig
torch.set_num_threads(1)

def old_attention(self, x, padding_mask=None, fused_kernel=None):
    attn = self.self_attn
    length, batch, dim = x.shape
    heads = attn.num_heads
    weight = torch.cat([attn.q_proj.weight, attn.k_proj.weight, attn.v_proj.weight])
    bias = torch.cat([attn.q_proj.bias, attn.k_proj.bias, attn.v_proj.bias])
    q, k, v = F.linear(x, weight, bias).view(length, batch, 3, heads, dim // heads).permute(2, 1, 3, 0, 4)
    scores = torch.matmul(q * attn.scaling, k.transpose(-1, -2))
    probs = F.dropout(scores.softmax(dim=-1), p=0.0)
    out = torch.matmul(probs, v)
    out = out.permute(2, 0, 1, 3).reshape(length, batch, dim)
    return attn.out_proj(out)

new_attention = xr.XlingEncoderLayer.attention
cfg = TransformerConfig()
cfg.encoder.embed_dim, cfg.encoder.ffn_embed_dim, cfg.encoder.attention_heads = 64, 256, 4
cfg.dropout = cfg.attention_dropout = 0.0
cfg.activation_fn = "gelu"
layers = torch.nn.ModuleList([xr.XlingEncoderLayer(cfg) for _ in range(8)]).bfloat16()
x = torch.randn(64, 32, 64, dtype=torch.bfloat16, requires_grad=True)
def step():
    h = x
    for layer in layers:
        h = layer(h, None)
    h.float().sum().backward()
times = {"old": [], "new": []}
for r in range(12):
    for name, fn in (("old", old_attention), ("new", new_attention)):
        xr.XlingEncoderLayer.attention = fn
        for _ in range(2): step()
        t = time.perf_counter()
        for _ in range(5): step()
        times[name].append((time.perf_counter() - t) / 5 * 1e3)
for name, ts in times.items():
    ts = sorted(ts)
    print(name, f"best {ts[0]:.1f} ms, median {ts[len(ts)//2]:.1f} ms per step (8 layers fwd+bwd)")
print("ratio old/new of medians", f"{sorted(times['old'])[6] / sorted(times['new'])[6]:.3f}", "of bests", f"{min(times['old']) / min(times['new']):.3f}")

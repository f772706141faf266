# One layer's CPU attention at the demo's shape (bf16, forward + backward, one thread): the shipped
# contiguous q, k, v against reading them in place as strided batched matrices.
# taskset -c 1 python strided_attention_ab.py
import time, torch, torch.nn.functional as F
torch.set_num_threads(1)
T, B, C, H = 64, 32, 64, 4
d = C // H
dt = torch.bfloat16
x = torch.randn(T, B, C, dtype=dt, requires_grad=True)
w = torch.randn(3 * C, C, dtype=dt, requires_grad=True) * 0.1
w = w.detach().requires_grad_()
b = torch.zeros(3 * C, dtype=dt, requires_grad=True)

def current(x):
    q, k, v = F.linear(x, w, b).view(T, B, 3, H, d).permute(2, 1, 3, 0, 4)
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    p = torch.matmul(q, k.transpose(-1, -2)).softmax(-1)
    return torch.matmul(p, v).permute(2, 0, 1, 3).reshape(T, B, C)

def interleaved(x):
    # rows ordered (head, q/k/v, d): batch (b, h) has a uniform stride of 3d
    wi = w.view(3, H, d, C).transpose(0, 1).reshape(3 * C, C)
    bi = b.view(3, H, d).transpose(0, 1).reshape(3 * C)
    y = F.linear(x, wi, bi)  # T x B x (H, 3, d)
    y = y.view(T, B * H, 3, d).transpose(0, 1)  # (BH) x T x 3 x d, strides (3d, B*3C, d, 1)
    q, k, v = y.unbind(2)
    p = torch.bmm(q, k.transpose(1, 2)).softmax(-1)
    out = torch.bmm(p, v)  # (BH) x T x d
    return out.view(B, H, T, d).permute(2, 0, 1, 3).reshape(T, B, C)

def check():
    a, c = current(x), interleaved(x)
    print("max diff", (a.float() - c.float()).abs().max().item())

def bench(fn, n=30):
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        fn(x).float().sum().backward()
        ts.append(time.perf_counter() - t)
    ts.sort(); return ts[len(ts) // 2] * 1e3

check()
for r in range(4):
    print("current %.3f ms  interleaved %.3f ms" % (bench(current), bench(interleaved)))

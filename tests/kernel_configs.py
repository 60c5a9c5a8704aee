"""The random convolution and pooling configurations every backend's kernel tests run on (tests/kernels
for the C++ kernels and their twins, tests/cuda for the CUDA kernels on the simulator): one generator, so
both suites cover the same geometries."""
import numpy as np


def conv_out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def conv_configs(count, seed=1234):
    """`count` conv2d configurations whose output is at least 1x1 (kernels 1-5, strides 1-3, paddings 0-2,
    square or not, sizes up to 20, batches up to 4), and the rejected ones met on the way (which must raise)."""
    rng = np.random.default_rng(seed)
    valid, invalid = [], []
    while len(valid) < count:
        kh, kw = rng.integers(1, 6, size=2)
        if rng.random() < 0.5:
            kw = kh
        sh, sw = rng.integers(1, 4, size=2) if rng.random() < 0.3 else (rng.integers(1, 4),) * 2
        ph, pw = rng.integers(0, 3, size=2) if rng.random() < 0.3 else (rng.integers(0, 3),) * 2
        cfg = dict(n=int(rng.integers(1, 5)), c_in=int(rng.integers(1, 9)), c_out=int(rng.integers(1, 17)),
                   h=int(rng.integers(1, 21)), w=int(rng.integers(1, 21)), kh=int(kh), kw=int(kw),
                   stride=(int(sh), int(sw)), padding=(int(ph), int(pw)),
                   dtype=np.float32 if len(valid) % 2 else np.float64, seed=int(rng.integers(1 << 30)))
        ok = conv_out(cfg["h"], cfg["kh"], sh, ph) >= 1 and conv_out(cfg["w"], cfg["kw"], sw, pw) >= 1
        (valid if ok else invalid).append(cfg)
    return valid, invalid


def conv_id(cfg):
    s, p = cfg["stride"], cfg["padding"]
    return (f"n{cfg['n']}-{cfg['c_in']}x{cfg['h']}x{cfg['w']}-o{cfg['c_out']}-k{cfg['kh']}x{cfg['kw']}"
            f"-s{s[0]}{s[1]}-p{p[0]}{p[1]}-{np.dtype(cfg['dtype']).name}")


def pool_configs(count, seed=4321):
    """`count` valid pooling configurations: kernels 1-5, strides 1-3 or None, paddings up to half the
    kernel, sizes up to 20, output at least 1x1."""
    rng = np.random.default_rng(seed)
    configs = []
    while len(configs) < count:
        kh, kw = (int(v) for v in rng.integers(1, 6, size=2))
        stride = None if rng.random() < 0.25 else (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = (int(rng.integers(0, kh // 2 + 1)), int(rng.integers(0, kw // 2 + 1)))
        cfg = dict(shape=(int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 21)),
                          int(rng.integers(1, 21))),
                   kernel=(kh, kw), stride=stride, padding=padding,
                   dtype=np.float32 if len(configs) % 2 else np.float64, seed=int(rng.integers(1 << 30)))
        s = stride or (kh, kw)
        h, w = cfg["shape"][2:]
        if (h + 2 * padding[0] - kh) // s[0] >= 0 and (w + 2 * padding[1] - kw) // s[1] >= 0:
            configs.append(cfg)
    return configs


def pool_id(cfg):
    return (f"{'x'.join(map(str, cfg['shape']))}-k{cfg['kernel']}-s{cfg['stride']}-p{cfg['padding']}"
            f"-{np.dtype(cfg['dtype']).name}").replace(" ", "")

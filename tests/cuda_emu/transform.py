# Turns every `kernel<<<grid, block[, shmem[, stream]]>>>(args);` into an emulator launch.
# The kernel expression is found by scanning back from `<<<` over one (possibly qualified,
# possibly templated) name, so launches after `if (...)` / `else` work. Arguments are evaluated
# once, at the launch, and captured by value (as CUDA does), so a launch recorded during stream
# capture can be replayed later.
import re, sys

src = open(sys.argv[1]).read()
out = []
i = 0
nlaunch = 0


def split_top(s):
    parts, depth, cur = [], 0, ''
    for ch in s:
        if ch in '([{<':
            depth += 1
        if ch in ')]}>':
            depth -= 1
        if ch == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts]


def kernel_start(src, k):
    j = k
    while src[j - 1] in ' \t\n':
        j -= 1
    end = j
    while True:
        if src[j - 1] == '>':  # template args: match back to '<'
            depth = 0
            while True:
                j -= 1
                if src[j] == '>':
                    depth += 1
                elif src[j] == '<':
                    depth -= 1
                    if depth == 0:
                        break
            while src[j - 1] in ' \t\n':
                j -= 1
        while src[j - 1].isalnum() or src[j - 1] == '_':
            j -= 1
        if src[j - 2:j] == '::':
            j -= 2
            continue
        break
    return j, src[j:end]


while True:
    k = src.find('<<<', i)
    if k < 0:
        out.append(src[i:])
        break
    s, name = kernel_start(src, k)
    e = src.find('>>>', k)
    cfg = split_top(src[k + 3:e])
    a = src.find('(', e)
    assert src[e + 3:a].strip() == '', src[e:a + 10]
    depth = 0
    j = a
    while True:
        if src[j] == '(':
            depth += 1
        elif src[j] == ')':
            depth -= 1
            if depth == 0:
                break
        j += 1
    args = src[a + 1:j]
    semi = src.find(';', j)
    assert src[j + 1:semi].strip() == '', src[j:semi + 5]
    shmem = cfg[2] if len(cfg) > 2 else '0'
    out.append(src[i:s])
    out.append(
        'emu::launch(dim3(%s), dim3(%s), size_t(%s), "%s", '
        '[=, emu_args_ = std::make_tuple(%s)]() { std::apply([&](auto&... emu_a_) { %s(emu_a_...); }, emu_args_); });'
        % (cfg[0], cfg[1], shmem, name.replace('"', ''), args, name))
    nlaunch += 1
    i = semi + 1
open(sys.argv[2], 'w').write(''.join(out))
sys.stderr.write('%s: %d launches converted\n' % (sys.argv[1], nlaunch))

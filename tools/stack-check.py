#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Worst-case BPF stack of every program in BPF objects, computed the way
Linux 6.1's verifier does, and a budget that fails the build.

    tools/stack-check.py [--budget BYTES] [--round BYTES] [-v] OBJ...

The verifier (check_max_stack_depth) walks the call graph of each program
from its entry: every BPF-to-BPF call and every callback passed to a helper
(bpf_loop, bpf_timer_set_callback: a `ld_imm64` of a function address) adds
a frame. Each frame counts its stack depth rounded up to 32 bytes on 6.1
(newer kernels round to 16 when the JIT is on), and the sum along the worst
chain must stay within 512 bytes. Since the verifier rejects a program past
512 on the kernel that runs it, and CI runs a newer kernel than the routers
that run this, the check here uses 6.1's rounding and a budget below 512 so
that growth shows up at build time, with headroom.

A function's stack depth is read off its instructions: the lowest offset
from the frame pointer (r10) that it addresses, directly or through a
register that holds r10 plus a constant (how clang passes stack buffers to
helpers and callees). tests/pkt/test_stack.py checks these numbers against
the ones the running kernel's verifier reports.

Exit status: 0 within budget, 1 over budget, 2 on bad input.
"""
import argparse
import sys

try:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.relocation import RelocationSection
    from elftools.elf.constants import SH_FLAGS
except ImportError:  # pragma: no cover
    sys.exit("stack-check: python3-pyelftools is missing (tools/install-deps.sh installs it)")

INSN = 8
FP = 10
# Instruction classes and the opcodes that matter here.
CLS_LD, CLS_LDX, CLS_ST, CLS_STX, CLS_ALU, CLS_JMP, CLS_JMP32, CLS_ALU64 = range(8)
OP_CALL = 0x85          # BPF_JMP | BPF_CALL
OP_LDIMM64 = 0x18       # BPF_LD | BPF_IMM | BPF_DW
PSEUDO_CALL = 1
# Helpers whose callback runs later on a stack of its own (the verifier's
# is_async_cb): it starts a chain of its own instead of extending this one.
ASYNC_HELPERS = {170: "bpf_timer_set_callback"}
HELPER_LOOP = 181  # bpf_loop: the verifier inlines it after the stack check
ALU_ADD, ALU_SUB, ALU_MOV = 0x00, 0x10, 0xb0
SRC_X = 0x08


def s16(v):
    return v - 0x10000 if v & 0x8000 else v


def s32(v):
    return v - 0x100000000 if v & 0x80000000 else v


def decode(raw, i):
    b = raw[i * INSN:(i + 1) * INSN]
    op = b[0]
    dst, src = b[1] & 0xf, b[1] >> 4
    off = s16(int.from_bytes(b[2:4], "little"))
    imm = s32(int.from_bytes(b[4:8], "little"))
    return op, dst, src, off, imm


class Func:
    def __init__(self, name, sec, start, count, is_prog):
        self.name, self.sec, self.start, self.count = name, sec, start, count
        self.is_prog = is_prog
        self.depth = 0          # bytes below the frame pointer this function touches
        self.calls = set()      # (section index, instruction index) of callees
        self.async_cbs = set()  # callbacks with a stack of their own (timers)
        self.loops = False      # calls bpf_loop

    def __repr__(self):
        return self.name


def frame_depth(raw, start, count):
    """Lowest r10-relative offset a function addresses, as a positive depth."""
    depth = 0
    fp = {}  # register -> offset from r10, for registers holding a stack address
    i = start
    end = start + count
    while i < end:
        op, dst, src, off, imm = decode(raw, i)
        cls = op & 7
        if op == OP_LDIMM64:
            fp.pop(dst, None)
            i += 2
            continue
        if cls == CLS_LDX:
            base = 0 if src == FP else fp.get(src)
            if base is not None:
                depth = max(depth, -(base + off))
            fp.pop(dst, None)
        elif cls in (CLS_ST, CLS_STX):
            base = 0 if dst == FP else fp.get(dst)
            if base is not None:
                depth = max(depth, -(base + off))
            if cls == CLS_STX and (op & 0xe0) == 0xc0 and imm & 1:  # atomic fetch into src
                fp.pop(src, None)
        elif cls == CLS_ALU64:
            code = op & 0xf0
            if code == ALU_MOV and op & SRC_X:
                if src == FP:
                    fp[dst] = 0
                elif src in fp:
                    fp[dst] = fp[src]
                else:
                    fp.pop(dst, None)
            elif code in (ALU_ADD, ALU_SUB) and not op & SRC_X and dst in fp:
                fp[dst] += imm if code == ALU_ADD else -imm
                depth = max(depth, -fp[dst])
            else:
                fp.pop(dst, None)
        elif cls == CLS_ALU:
            fp.pop(dst, None)
        elif op == OP_CALL:
            for r in range(0, 6):
                fp.pop(r, None)
        i += 1
    return depth


def load(path):
    funcs = {}  # (section index, start instruction) -> Func
    with open(path, "rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        if symtab is None:
            raise ValueError("%s: no symbol table" % path)
        text = {}
        for idx, sec in enumerate(elf.iter_sections()):
            if sec["sh_type"] == "SHT_PROGBITS" and sec["sh_flags"] & SH_FLAGS.SHF_EXECINSTR \
                    and sec["sh_size"]:
                text[idx] = sec.data()
        syms = list(symtab.iter_symbols())
        for s in syms:
            if s["st_info"]["type"] != "STT_FUNC" or s["st_shndx"] not in text:
                continue
            sec = s["st_shndx"]
            name = elf.get_section(sec).name
            fn = Func(s.name, sec, s["st_value"] // INSN, s["st_size"] // INSN,
                      is_prog=(name != ".text"))
            funcs[(sec, fn.start)] = fn
        # Relocations: instruction index -> (symbol section, symbol value, symbol type)
        relocs = {}
        for sec in elf.iter_sections():
            if not isinstance(sec, RelocationSection):
                continue
            target = sec["sh_info"]
            if target not in text:
                continue
            for r in sec.iter_relocations():
                sym = syms[r["r_info_sym"]]
                relocs[(target, r["r_offset"] // INSN)] = (sym["st_shndx"], sym["st_value"],
                                                           sym["st_info"]["type"])
        for fn in funcs.values():
            raw = text[fn.sec]
            fn.depth = frame_depth(raw, fn.start, fn.count)
            i = fn.start
            pending = {}  # register -> callback loaded into it, until a helper takes it
            while i < fn.start + fn.count:
                op, dst, src, off, imm = decode(raw, i)
                rel = relocs.get((fn.sec, i))
                if op == OP_CALL and src == PSEUDO_CALL:
                    if rel and rel[0] not in text:
                        pass  # an extern (kfunc): runs in the kernel, no BPF frame
                    elif rel:  # call into another section: libbpf's rule
                        fn.calls.add((rel[0], rel[1] // INSN + imm + 1))
                    else:
                        fn.calls.add((fn.sec, i + imm + 1))
                elif op == OP_CALL:  # a helper: it takes the callbacks loaded for it
                    fn.loops |= imm == HELPER_LOOP
                    for cb in pending.values():
                        (fn.async_cbs if imm in ASYNC_HELPERS else fn.calls).add(cb)
                    pending.clear()
                elif op == OP_LDIMM64 and rel and rel[0] in text and \
                        rel[2] in ("STT_FUNC", "STT_SECTION"):
                    # address of a function: a callback (bpf_loop, timers)
                    pending[dst] = (rel[0], (rel[1] + imm) // INSN)
                i += 2 if op == OP_LDIMM64 else 1
            for cb in pending.values():  # never passed to a helper here: count it
                fn.calls.add(cb)
        for fn in funcs.values():
            missing = [c for c in fn.calls | fn.async_cbs if c not in funcs]
            if missing:
                raise ValueError("%s: %s calls into the middle of a function at %s"
                                 % (path, fn.name, missing))
    return funcs


def linked(funcs, fn):
    """fn and every function reachable from it, callbacks included: what
    libbpf links into the program, in no particular order."""
    seen, todo = [], [fn]
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.append(f)
        todo += [funcs[c] for c in sorted(f.calls | f.async_cbs)]
    return seen


def rounded(depth, rnd):
    depth = max(depth, 1)
    return (depth + rnd - 1) // rnd * rnd


def worst_chain(funcs, fn, rnd, seen=()):
    """(total, [functions]) of the deepest call chain from fn."""
    if fn in seen:
        raise ValueError("recursion through %s" % fn.name)
    best = (0, [])
    for c in sorted(fn.calls):
        sub = worst_chain(funcs, funcs[c], rnd, seen + (fn,))
        if sub[0] > best[0]:
            best = sub
    return rounded(fn.depth, rnd) + best[0], [fn] + best[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=448,
                    help="bytes a program's worst chain may use (default 448 of 512)")
    ap.add_argument("--round", type=int, default=32,
                    help="frame rounding (32: Linux 6.1; 16: newer kernels with JIT)")
    ap.add_argument("--depths", action="store_true",
                    help="print every function's own depth, nothing else: name depth "
                    "loops (loops: 1 if it calls bpf_loop)")
    ap.add_argument("--members", action="store_true",
                    help="print each program's functions as linked into it (prog: f ...)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("objs", nargs="+")
    a = ap.parse_args()
    over = 0
    for path in a.objs:
        try:
            funcs = load(path)
        except ValueError as e:
            print("stack-check: %s" % e, file=sys.stderr)
            return 2
        except (OSError, ELFError) as e:
            print("stack-check: %s: %s" % (path, getattr(e, "strerror", None) or e),
                  file=sys.stderr)
            return 2
        if a.depths:
            for fn in sorted(funcs.values(), key=lambda f: f.name):
                print(fn.name, fn.depth, int(fn.loops))
            continue
        if a.members:
            for fn in sorted((f for f in funcs.values() if f.is_prog), key=lambda f: f.name):
                print("%s: %s" % (fn.name, " ".join(f.name for f in linked(funcs, fn))))
            continue
        roots = {f for f in funcs.values() if f.is_prog}
        roots |= {funcs[c] for f in funcs.values() for c in f.async_cbs}
        for fn in sorted(roots, key=lambda f: f.name):
            total, chain = worst_chain(funcs, fn, a.round)
            bad = total > a.budget
            over += bad
            if bad or a.verbose:
                parts = " + ".join("%s %d" % (f.name, rounded(f.depth, a.round)) for f in chain)
                print("%s %-12s %3d of %d: %s" % ("OVER" if bad else "ok  ", fn.name, total,
                                                  a.budget, parts))
    if over:
        print("stack-check: %d program(s) over the stack budget of %d bytes (frames rounded "
              "to %d as on Linux 6.1, limit 512); move large locals off the stack"
              % (over, a.budget, a.round), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

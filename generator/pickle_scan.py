"""Tell what a pickled or joblib-dumped scikit-learn model contains, without loading it.

Loading a pickle runs code: every GLOBAL, REDUCE or BUILD in the stream imports
a module and calls what the file names, so a model file can do anything the
moment it is loaded. This module therefore never unpickles. It parses the
opcode stream with ``pickletools.genops`` (a pure parser) and replays it on a
tiny inert stack machine whose values are plain strings, numbers, containers
and placeholder objects that only remember the class name, arguments and state
they were given. No module named in the file is imported and nothing it names
is called; joblib's raw array bytes are skipped by seeking past them.
"""

from __future__ import annotations

import _compat_pickle  # the py2 -> py3 name table pickle.Unpickler itself applies
import bz2
import io
import lzma
import mmap
import os
import pickle
import pickletools
import re
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from generator.errors import ArtifactError

# Globals that run commands, load code, or reach files, processes or the
# network when the unpickler calls them. "pkg.*" covers a module and its
# submodules. Not exhaustive: it names the usual payloads so a user is warned.
SUSPICIOUS_GLOBALS = frozenset(
    {
        "os.*",
        "posix.*",
        "nt.*",
        "subprocess.*",
        "_posixsubprocess.*",
        "pty.*",
        "sys.*",
        "importlib.*",
        "runpy.*",
        "code.*",
        "codeop.*",
        "pdb.*",
        "bdb.*",
        "timeit.*",
        "ctypes.*",
        "_ctypes.*",
        "socket.*",
        "_socket.*",
        "shutil.*",
        "tempfile.*",
        "pathlib.*",
        "multiprocessing.*",
        "asyncio.*",
        "webbrowser.*",
        "urllib.*",
        "http.*",
        "ftplib.*",
        "smtplib.*",
        "requests.*",
        "pip.*",
        "pickle.*",
        "_pickle.*",
        "marshal.*",
        "dill.*",
        "cloudpickle.*",
        "numpy.testing.*",
        "numpy.f2py.*",
        "builtins.eval",
        "builtins.exec",
        "builtins.compile",
        "builtins.open",
        "builtins.__import__",
        "builtins.getattr",
        "builtins.setattr",
        "builtins.delattr",
        "builtins.globals",
        "builtins.locals",
        "builtins.vars",
        "builtins.input",
        "builtins.breakpoint",
        "builtins.exit",
        "builtins.quit",
        "builtins.help",
        "io.open",
        "io.FileIO",
        "_io.open",
        "_io.FileIO",
        "codecs.open",
        "types.CodeType",
        "types.FunctionType",
        "operator.attrgetter",
        "operator.methodcaller",
        "numpy.load",
        "numpy.fromfile",
        "joblib.load",
        "pandas.read_pickle",
    }
)

_JOBLIB_ARRAY = ("joblib.numpy_pickle", "NumpyArrayWrapper")

# Protocol 0-1 pickles build objects with these helpers; the real class is
# their first argument, and that is what the user wants to see.
_CLASS_FACTORIES = frozenset(
    {("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__")}
)

# An lzma header names its dictionary size and liblzma allocates it up front;
# joblib's presets need at most ~65 MiB, so a header asking for more is refused.
_LZMA_MEMLIMIT = 256 << 20

# Magic bytes joblib's compressor.py looks for, and the stdlib decompressor for each.
_COMPRESSIONS: tuple[tuple[bytes, str, Callable[[], Any]], ...] = (
    (b"\x78", "zlib", lambda: zlib.decompressobj(zlib.MAX_WBITS)),
    (b"\x1f\x8b", "gzip", lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)),
    (b"BZ", "bz2", bz2.BZ2Decompressor),
    (b"\x5d\x00", "lzma", lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE, _LZMA_MEMLIMIT)),
    (b"\xfd7zXZ", "xz", lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, _LZMA_MEMLIMIT)),
)

# Formats recognised only to say clearly why they cannot be scanned.
_UNSUPPORTED_MAGIC = (
    (
        b"\x04\x22\x4d\x18",
        "is lz4-compressed, which needs the extra lz4 package deploygen does not use; "
        "re-save it with joblib.dump(model, path, compress=('zlib', 3)) or uncompressed",
    ),
    (
        b"ZF",
        "was written by joblib older than 0.10; "
        "load it with that joblib and re-save it with a current one",
    ),
    (
        b"PK\x03\x04",
        "is a zip archive, not a pickle or joblib file; pass the model file itself",
    ),
)

_DECOMPRESS_CHUNK = 1 << 20

# A numpy dtype pickles as numpy.dtype(descr, False, True): descr is a kind
# letter and the item size in bytes (in characters for "U", 4 bytes each).
_DTYPE_DESCR = re.compile(r"([biufcmMOSUV])([0-9]{1,9})")
_NPY_ITEM_REFCOUNT = 0x01  # dtype flag: items hold Python objects


@dataclass(frozen=True)
class PickleScan:
    """What a model file holds, read from its opcodes alone.

    container: "pickle", "joblib" (an uncompressed joblib file with at least one
        numpy array; without one it is a plain pickle), or "joblib+<compressor>".
    protocol: of the outer pickle stream; 0 or 1 for files without a PROTO opcode.
    root_class: (module, qualname) of the top-level object's class, or of the
        callable that builds it; None when it is not an object (a dict, a list).
    globals: every (module, name) the file would import, first-seen order.
    sklearn_version, n_features_in: of the outermost scikit-learn estimator,
        n_features_in as scikit-learn answers it (a Pipeline asks its first step).
    suspicious: "module.name" of globals matching SUSPICIOUS_GLOBALS.
    """

    container: str
    protocol: int
    root_class: tuple[str, str] | None
    globals: tuple[tuple[str, str], ...]
    sklearn_version: str | None
    n_features_in: int | None
    suspicious: tuple[str, ...]


def scan_pickle(path: str | os.PathLike) -> PickleScan:
    """Scan the pickle or joblib file at path; raise ArtifactError if it is not one."""
    name = os.path.basename(os.fspath(path))
    try:
        with open(path, "rb") as file:
            if os.fstat(file.fileno()).st_size == 0:
                raise ArtifactError(
                    f"Model file '{name}' is empty; save the model again with "
                    "joblib.dump or pickle.dump."
                )
            # mmap: array bytes we skip are never read from disk.
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return _scan_data(data, name)
    except OSError as exc:
        raise ArtifactError(
            f"Cannot read model file '{name}': {exc.strerror or type(exc).__name__}; "
            "check the path and its permissions."
        ) from None


def _scan_data(data: mmap.mmap, name: str) -> PickleScan:
    head = data[:8]
    for magic, problem in _UNSUPPORTED_MAGIC:
        if head.startswith(magic):
            raise ArtifactError(f"Model file '{name}' {problem}.")
    for magic, kind, make_decompressor in _COMPRESSIONS:
        if head.startswith(magic):
            stream, size = _decompress(data, kind, make_decompressor(), name)
            return _Scanner(stream, size, name).scan(f"joblib+{kind}")
    return _Scanner(data, len(data), name).scan(None)


def _decompress(
    data: mmap.mmap, kind: str, decompressor: Any, name: str
) -> tuple[io.BytesIO, int]:
    """Decompress chunk by chunk so only the decompressed copy is held in memory."""
    out = io.BytesIO()
    start = 0
    with memoryview(data) as view:
        try:
            while start < len(view) and not decompressor.eof:
                out.write(decompressor.decompress(view[start : start + _DECOMPRESS_CHUNK]))
                start += _DECOMPRESS_CHUNK
        except (zlib.error, lzma.LZMAError, OSError, EOFError, ValueError) as exc:
            raise ArtifactError(
                f"Model file '{name}' looks {kind}-compressed but does not decompress "
                f"({exc}); copy it again or re-save the model."
            ) from None
    if not decompressor.eof:
        raise ArtifactError(
            f"Model file '{name}' is truncated: its {kind} stream ends early; "
            "copy it again or re-save the model."
        )
    if decompressor.unused_data or start < len(data):
        raise ArtifactError(
            f"Model file '{name}' has unexpected data after its {kind} stream; "
            "re-save the model with joblib.dump."
        )
    size = out.tell()
    out.seek(0)
    return out, size


class _Malformed(Exception):
    """The stream cannot be a loadable pickle; the message says why."""


class _Global:
    """A module attribute the file names (a class or function), never imported."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name


class _Obj:
    """An object the file would build: only its class, arguments and state are kept."""

    __slots__ = ("cls", "args", "state", "items")

    def __init__(self, cls: tuple[str, str] | None, args: Any) -> None:
        self.cls = cls  # the class, or the callable REDUCE would call
        self.args = args
        self.state: Any = None
        self.items: list[Any] = []  # what APPEND/SETITEM added, for list/dict subclasses


class _Machine:
    """Replays one pickle's opcodes on inert values (pickle.Unpickler's stack discipline)."""

    def __init__(self, note_global: Callable[[str, str], None]) -> None:
        self.stack: list[Any] = []
        self.metastack: list[list[Any]] = []
        self.memo: dict[int, Any] = {}
        self.proto = 0  # as Unpickler: 0 until a PROTO opcode says otherwise
        self.declared_proto = False
        self.highest_op_proto = 0
        self._note_global = note_global

    def protocol(self) -> int:
        # Without PROTO (protocols 0-1), the newest opcode used tells the protocol.
        return self.proto if self.declared_proto else self.highest_op_proto

    def step(self, opcode: pickletools.OpcodeInfo, arg: Any) -> None:
        if opcode.proto > self.highest_op_proto:
            self.highest_op_proto = opcode.proto
        _HANDLERS[opcode.name](self, arg)

    def push(self, value: Any) -> None:
        self.stack.append(value)

    def pop(self) -> Any:
        if not self.stack:
            raise _Malformed("stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if not self.stack:
            raise _Malformed("stack underflow")
        return self.stack[-1]

    def _pop_mark(self) -> list[Any]:
        if not self.metastack:
            raise _Malformed("MARK missing")
        items, self.stack = self.stack, self.metastack.pop()
        return items

    def _global(self, module: str, name: str) -> _Global:
        if self.proto < 3:  # what Unpickler.find_class does (fix_imports defaults to True)
            module, name = _compat_pickle.NAME_MAPPING.get(
                (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name)
            )
        self._note_global(module, name)
        return _Global(module, name)

    def _op_none(self, arg: None) -> None:
        self.stack.append(None)

    def _op_newtrue(self, arg: None) -> None:
        self.stack.append(True)

    def _op_newfalse(self, arg: None) -> None:
        self.stack.append(False)

    def _op_empty_tuple(self, arg: None) -> None:
        self.stack.append(())

    def _op_empty_list(self, arg: None) -> None:
        self.stack.append([])

    def _op_empty_dict(self, arg: None) -> None:
        self.stack.append({})

    def _op_empty_set(self, arg: None) -> None:
        self.stack.append([])  # sets are modelled as sequences: inert values are never hashed

    def _op_proto(self, arg: int) -> None:
        if arg > pickle.HIGHEST_PROTOCOL:
            raise _Malformed(f"pickle protocol {arg} is newer than this Python reads")
        self.proto, self.declared_proto = arg, True

    def _op_frame(self, arg: int) -> None:
        pass  # framing only groups opcodes for buffered reads

    def _op_readonly_buffer(self, arg: None) -> None:
        self.top()

    def _op_mark(self, arg: None) -> None:
        self.metastack.append(self.stack)
        self.stack = []

    def _op_pop(self, arg: None) -> None:
        if self.stack:
            self.stack.pop()
        else:
            self._pop_mark()

    def _op_pop_mark(self, arg: None) -> None:
        self._pop_mark()

    def _op_dup(self, arg: None) -> None:
        self.stack.append(self.top())

    # _pop_mark() swaps self.stack, so each op takes the marked items first.
    def _op_tuple(self, arg: None) -> None:
        items = self._pop_mark()
        self.stack.append(tuple(items))

    def _op_tuple1(self, arg: None) -> None:
        self.stack.append((self.pop(),))

    def _op_tuple2(self, arg: None) -> None:
        second = self.pop()
        self.stack.append((self.pop(), second))

    def _op_tuple3(self, arg: None) -> None:
        third, second = self.pop(), self.pop()
        self.stack.append((self.pop(), second, third))

    def _op_list(self, arg: None) -> None:
        items = self._pop_mark()
        self.stack.append(items)

    def _op_frozenset(self, arg: None) -> None:
        items = self._pop_mark()
        self.stack.append(tuple(items))  # sets are modelled as sequences

    def _op_dict(self, arg: None) -> None:
        items = self._pop_mark()
        target: dict[Any, Any] = {}
        _set_items(target, items)
        self.stack.append(target)

    def _op_append(self, arg: None) -> None:
        value = self.pop()
        _extend(self.top(), [value])

    def _op_appends(self, arg: None) -> None:
        items = self._pop_mark()
        _extend(self.top(), items)

    _op_additems = _op_appends

    def _op_setitem(self, arg: None) -> None:
        value, key = self.pop(), self.pop()
        _set_items(self.top(), [key, value])

    def _op_setitems(self, arg: None) -> None:
        items = self._pop_mark()
        _set_items(self.top(), items)

    def _op_put(self, arg: int) -> None:
        if arg < 0:
            raise _Malformed("negative memo index")
        self.memo[arg] = self.top()

    _op_binput = _op_long_binput = _op_put

    def _op_memoize(self, arg: None) -> None:
        self.memo[len(self.memo)] = self.top()

    def _op_get(self, arg: int) -> None:
        if arg not in self.memo:
            raise _Malformed(f"memo entry {arg} read before it was written")
        self.stack.append(self.memo[arg])

    _op_binget = _op_long_binget = _op_get

    def _op_global(self, arg: str) -> None:
        self.stack.append(self._global(*_split_global(arg)))

    def _op_stack_global(self, arg: None) -> None:
        name, module = self.pop(), self.pop()
        if not isinstance(module, str) or not isinstance(name, str):
            raise _Malformed("STACK_GLOBAL needs two strings")
        self.stack.append(self._global(module, name))

    def _op_inst(self, arg: str) -> None:
        args = tuple(self._pop_mark())
        cls = self._global(*_split_global(arg))
        self.stack.append(_Obj((cls.module, cls.name), args))

    def _op_obj(self, arg: None) -> None:
        items = self._pop_mark()
        if not items:
            raise _Malformed("OBJ without a class")
        self.stack.append(_Obj(_class_of(items[0], ()), tuple(items[1:])))

    def _op_reduce(self, arg: None) -> None:
        args = self.pop()
        func = self.pop()
        self.stack.append(_Obj(_class_of(func, args), args))

    def _op_newobj(self, arg: None) -> None:
        args = self.pop()
        cls = self.pop()
        self.stack.append(_Obj(_class_of(cls, ()), args))

    def _op_newobj_ex(self, arg: None) -> None:
        kwargs, args = self.pop(), self.pop()
        cls = self.pop()
        self.stack.append(_Obj(_class_of(cls, ()), (args, kwargs)))

    def _op_build(self, arg: None) -> None:
        state = self.pop()
        target = self.top()
        if isinstance(target, _Obj):
            target.state = state


_PUSH_ARG = frozenset(
    {
        "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
        "STRING", "BINSTRING", "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
        "BYTEARRAY8", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    }
)  # fmt: skip

# Opcodes a plain pickle.load / joblib.load refuses, so no model file uses them.
_UNLOADABLE = {
    "PERSID": "persistent IDs need a custom unpickler",
    "BINPERSID": "persistent IDs need a custom unpickler",
    "NEXT_BUFFER": "out-of-band buffers need a custom unpickler",
    "EXT1": "extension codes are not registered in a plain Python",
    "EXT2": "extension codes are not registered in a plain Python",
    "EXT4": "extension codes are not registered in a plain Python",
}



def _refusal(reason: str) -> Callable[[_Machine, Any], None]:
    def refuse(machine: _Machine, arg: Any) -> None:
        raise _Malformed(reason)

    return refuse


def _handler(name: str) -> Callable[[_Machine, Any], None]:
    if name in _PUSH_ARG:
        return _Machine.push
    if name in _UNLOADABLE:
        return _refusal(_UNLOADABLE[name])
    # An opcode added by a newer Python is refused rather than guessed at.
    return getattr(_Machine, "_op_" + name.lower(), _refusal(f"unsupported opcode {name}"))


# STOP is left out: the scanner handles it, since it ends the walk.
_HANDLERS = {op.name: _handler(op.name) for op in pickletools.opcodes if op.name != "STOP"}


def _split_global(arg: str) -> tuple[str, str]:
    # pickletools joins GLOBAL/INST's two text lines with a space.
    module, _, name = arg.partition(" ")
    return module, name


def _class_of(func: Any, args: Any) -> tuple[str, str] | None:
    if not isinstance(func, _Global):
        return None
    pair = (func.module, func.name)
    if pair in _CLASS_FACTORIES and isinstance(args, tuple) and args:
        return _class_of(args[0], ())
    return pair


def _extend(target: Any, values: list[Any]) -> None:
    if isinstance(target, list):
        target.extend(values)
    elif isinstance(target, _Obj):
        target.items.extend(values)
    else:
        raise _Malformed("APPEND to something that is not a list")


def _set_items(target: Any, items: list[Any]) -> None:
    if len(items) % 2:
        raise _Malformed("SETITEMS with a key but no value")
    if isinstance(target, _Obj):
        target.items.extend(items)
    elif isinstance(target, dict):
        for key, value in zip(items[::2], items[1::2]):
            # Only str keys are ever looked up; any other key becomes a fresh
            # sentinel so a hostile key (deeply nested tuple, list) is never hashed.
            target[key if isinstance(key, str) else object()] = value
    else:
        raise _Malformed("SETITEM on something that is not a dict")


class _Scanner:
    """Walks a file's pickle(s) and collects what the result needs."""

    def __init__(self, stream: Any, size: int, name: str) -> None:
        self.stream, self.size, self.name = stream, size, name
        self.globals: dict[tuple[str, str], None] = {}  # insertion-ordered set
        self.saw_joblib_array = False

    def scan(self, container: str | None) -> PickleScan:
        protocol, root = self._walk(joblib_arrays=True)
        if self.stream.tell() != self.size:
            raise ArtifactError(
                f"Model file '{self.name}' has {self.size - self.stream.tell()} unexpected "
                "bytes after the end of its pickle; save the model again with "
                "joblib.dump or pickle.dump."
            )
        estimator = _outermost_estimator(root)
        version = _state_dict(estimator)["_sklearn_version"] if estimator else None
        return PickleScan(
            container=container or ("joblib" if self.saw_joblib_array else "pickle"),
            protocol=protocol,
            root_class=root.cls if isinstance(root, _Obj) else None,
            globals=tuple(self.globals),
            sklearn_version=version,
            n_features_in=_n_features_in(estimator) if estimator else None,
            suspicious=tuple(f"{m}.{n}" for m, n in self.globals if is_suspicious(m, n)),
        )

    def _note_global(self, module: str, name: str) -> None:
        self.globals.setdefault((module, name), None)

    def _walk(self, joblib_arrays: bool) -> tuple[int, Any]:
        """Replay one pickle from the current position to its STOP; return (protocol, root)."""
        machine = _Machine(self._note_global)
        # genops parses lazily, so seeking self.stream between opcodes is safe.
        opcodes = pickletools.genops(self.stream)
        while True:
            opcode, arg, pos = self._next_opcode(opcodes)
            try:
                if opcode.name == "STOP":
                    return machine.protocol(), machine.pop()
                machine.step(opcode, arg)
                if joblib_arrays and opcode.name == "BUILD":
                    self._after_build(machine)
            except _Malformed as exc:
                raise self._invalid(f"{exc} at byte {pos}") from None

    def _next_opcode(self, opcodes: Iterator[Any]) -> tuple[pickletools.OpcodeInfo, Any, int]:
        try:
            return next(opcodes)
        except ValueError as exc:  # unknown opcode, bad argument, or end of data
            if self.stream.tell() >= self.size:
                raise self._truncated() from None
            raise self._invalid(str(exc)) from None

    def _after_build(self, machine: _Machine) -> None:
        # joblib.load reads an array's bytes right after the BUILD of its
        # NumpyArrayWrapper, then puts the array where the wrapper was.
        wrapper = machine.top()
        if not (isinstance(wrapper, _Obj) and wrapper.cls == _JOBLIB_ARRAY):
            return
        self.saw_joblib_array = True
        state = wrapper.state
        if not isinstance(state, dict):
            raise _Malformed("joblib array wrapper without its state")
        has_objects, itemsize = _dtype_layout(state.get("dtype"))
        if has_objects:
            self._walk(joblib_arrays=False)  # object arrays are a nested, plain pickle
        else:
            if state.get("numpy_array_alignment_bytes") is not None:
                self._skip(self._read_byte())  # padding length, then padding
            self._skip(_element_count(state.get("shape")) * itemsize)
        subclass = state.get("subclass")
        machine.stack[-1] = _Obj(
            (subclass.module, subclass.name) if isinstance(subclass, _Global) else None, ()
        )

    def _read_byte(self) -> int:
        byte = self.stream.read(1)
        if not byte:
            raise self._truncated()
        return byte[0]

    def _skip(self, count: int) -> None:
        end = self.stream.tell() + count
        if end > self.size:
            raise self._truncated()
        self.stream.seek(end)

    def _truncated(self) -> ArtifactError:
        return ArtifactError(
            f"Model file '{self.name}' is truncated: its data ends before the pickle's "
            "end; copy it again or re-save the model."
        )

    def _invalid(self, detail: str) -> ArtifactError:
        # genops quotes the offending bytes; keep the message one short line.
        return ArtifactError(
            f"Model file '{self.name}' is not a valid pickle or joblib file ({detail:.120}); "
            "pass a model saved with joblib.dump or pickle.dump."
        )


def _dtype_layout(dtype: Any) -> tuple[bool, int]:
    """(holds Python objects, item size) of a pickled numpy.dtype, from its descr and flags."""
    args = dtype.args if isinstance(dtype, _Obj) else None
    descr = args[0] if isinstance(args, tuple) and args and isinstance(args[0], str) else None
    match = _DTYPE_DESCR.fullmatch(descr or "")
    if match is None:
        raise _Malformed(f"joblib array of a numpy dtype deploygen cannot size ({descr!r:.40})")
    kind, size = match[1], int(match[2])
    state = dtype.state
    flags = state[7] if isinstance(state, tuple) and len(state) > 7 else 0
    # A structured dtype with an object field has a "V" descr but the REFCOUNT flag.
    has_objects = kind == "O" or (isinstance(flags, int) and bool(flags & _NPY_ITEM_REFCOUNT))
    return has_objects, size * 4 if kind == "U" else size


def _element_count(shape: Any) -> int:
    if not isinstance(shape, tuple) or not all(_is_int(n) and n >= 0 for n in shape):
        raise _Malformed("joblib array with an invalid shape")
    count = 1
    for n in shape:
        count *= n
    return count


def _outermost_estimator(root: Any) -> _Obj | None:
    """The first object, depth-first from the root, that scikit-learn pickled.

    scikit-learn adds _sklearn_version to every estimator's state; depth-first
    in stream order meets a model before the estimators inside it.
    """
    pending, seen = [root], set()
    while pending:
        node = pending.pop()
        if not isinstance(node, (_Obj, dict, list, tuple)) or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, _Obj):
            if isinstance(_state_dict(node).get("_sklearn_version"), str):
                return node
            children = [node.args, node.state, *node.items]
        elif isinstance(node, dict):
            children = list(node.values())
        else:
            children = list(node)
        pending.extend(reversed(children))
    return None


# scikit-learn estimators without their own n_features_in_ answer with another
# estimator's: the state key holding it, and the indexes that reach it.
_N_FEATURES_DELEGATES = (
    ("steps", (0, 1)),  # Pipeline: its first step
    ("transformer_list", (0, 1)),  # FeatureUnion: its first transformer
    ("best_estimator_", ()),  # GridSearchCV and the other searches
    ("estimators_", (0,)),  # Voting and Stacking ensembles
    ("regressor_", ()),  # TransformedTargetRegressor
    ("estimator_", ()),  # SelectFromModel
)


def _n_features_in(estimator: _Obj) -> int | None:
    """n_features_in_ as scikit-learn would answer it for this estimator."""
    node: _Obj | None = estimator
    seen = set()
    while node is not None and id(node) not in seen:  # a hostile file can make a cycle
        seen.add(id(node))
        state = _state_dict(node)
        if _is_int(state.get("n_features_in_")):
            return state["n_features_in_"]
        node = _delegate(state)
    return None


def _delegate(state: dict[Any, Any]) -> _Obj | None:
    for key, path in _N_FEATURES_DELEGATES:
        value = state.get(key)
        for index in path:
            value = value[index] if isinstance(value, (list, tuple)) and len(value) > index else None
        if isinstance(value, _Obj):
            return value
    return None


def _state_dict(obj: _Obj) -> dict[Any, Any]:
    # BUILD's state is the __dict__, or (__dict__, slots) for classes with __slots__.
    state = obj.state[0] if isinstance(obj.state, tuple) and obj.state else obj.state
    return state if isinstance(state, dict) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_suspicious(module: str, name: str) -> bool:
    parts = name.split(".")
    # From protocol 4 a dotted name is an attribute walk from the module, so
    # ("sklearn.base", "os.system") reaches os.system: test every start of the
    # walk. Walks through dunders (__globals__, __builtins__) reach anything.
    if len(parts) > 1 and any(part.startswith("__") for part in parts):
        return True
    paths = [f"{module}.{name}"] + [".".join(parts[i:]) for i in range(len(parts) - 1)]
    return any(_matches_suspicious(path) for path in paths)


def _matches_suspicious(path: str) -> bool:
    return any(
        path == pattern or (pattern.endswith(".*") and path.startswith(pattern[:-1]))
        for pattern in SUSPICIOUS_GLOBALS
    )

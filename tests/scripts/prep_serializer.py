#!/usr/bin/env python3
"""Reference files for test_h5ser: written and checked with upstream
rvspecfit's own serializer (rvspecfit/serializer.py, h5py).

  prep_serializer.py write OUT.h5    write the reference dict
  prep_serializer.py verify IN.h5    load IN.h5 with upstream's loader and
                                     check it equals the reference dict
                                     (values and Python types); exit 1 if not
The same dict is built in C by tests/test_h5ser.c (build_reference)."""
import pickle
import sys

import numpy as np
from rvspecfit import serializer


def reference():
    return {
        'arr_f64': np.array([[1.5, -2.25, 3.0], [4.0, 5.5, -6.125]]),
        'arr_f32': np.arange(5, dtype=np.float32) * np.float32(0.5),
        'arr_i64': np.array([3, -1, 7], dtype=np.int64),
        'arr_bool': np.array([True, False, True]),
        'arr_str': np.array(['teff', 'logg']),
        's': 'Hello world \u00fcn\u00efcode',
        'x_f': 2.5,
        'x_i': np.int64(42),
        'x_b': True,
        'none': None,
        'lst': [1.1, 2.2, 3.3],
        'tup': (np.int64(1), np.int64(2), np.int64(3)),
        'lst_str': ['test', 'example'],
        'mapper_args': ([0, 3], ),
        'mixed': (np.int64(1), 'x'),
        'with_none': [None, np.int64(3)],
        'nested': {'a': np.int64(55), 'b': {'c': 'deep'}},
        'pick': {7},  # not serializable otherwise: stored pickled
    }
# Upstream's saver raises IndexError on an empty list (its empty_array branch
# is unreachable), so only our writer stores 'empty_l' (type empty_array).
PICKLE_SET7 = b'\x80\x02c__builtin__\nset\nq\x00]q\x01K\x07a\x85q\x02Rq\x03.'
assert pickle.loads(PICKLE_SET7) == {7}


def same(a, b, path):
    """Upstream's loader returns lists/tuples of numpy scalars or arrays."""
    if isinstance(a, dict):
        if not isinstance(b, dict) or set(a) != set(b):
            print(f'{path}: keys {sorted(a)} vs {sorted(b) if isinstance(b, dict) else b!r}')
            return False
        return all(same(a[k], b[k], path + '/' + k) for k in a)
    if isinstance(a, (list, tuple)):
        if type(a) is not type(b) or len(a) != len(b):
            print(f'{path}: {a!r} vs {b!r}')
            return False
        return all(same(x, y, path) for x, y in zip(a, b))
    if isinstance(a, np.ndarray):
        if not isinstance(b, np.ndarray) or a.shape != b.shape or a.dtype != b.dtype \
                or not np.array_equal(a, b):
            print(f'{path}: {a!r} vs {b!r}')
            return False
        return True
    if isinstance(a, set):
        if a != b:
            print(f'{path}: {a!r} vs {b!r}')
            return False
        return True
    if a is None:
        if b is not None:
            print(f'{path}: None vs {b!r}')
            return False
        return True
    if isinstance(a, str):
        if not isinstance(b, str) or a != b:
            print(f'{path}: {a!r} vs {b!r}')
            return False
        return True
    ok = (a == b) and (isinstance(a, bool) == isinstance(b, (bool, np.bool_)))
    if not ok:
        print(f'{path}: {a!r} ({type(a)}) vs {b!r} ({type(b)})')
    return ok


def expected_after_load(d):
    """What upstream's loader gives back for the reference dict."""
    e = dict(d)
    e['lst'] = [np.float64(x) for x in d['lst']]
    e['mapper_args'] = (np.array([0, 3]), )
    return e


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == 'write':
        serializer.save_dict_to_hdf5(path, reference(), allow_pickle=True)
        return 0
    loaded = serializer.load_dict_from_hdf5(path)
    exp = expected_after_load(reference())
    # an empty list comes back as an empty float64 array (type empty_array)
    empty = loaded.pop('empty_l', None)
    if not isinstance(empty, np.ndarray) or empty.size != 0:
        print('empty_l:', repr(empty))
        return 1
    return 0 if same(exp, loaded, '') else 1


if __name__ == '__main__':
    sys.exit(main())

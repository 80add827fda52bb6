import math

from ballot.voting.codes import ALPHABET, CODE_LENGTH, code_hash, new_code, new_receipt, normalize_code


def test_code_shape_and_entropy():
    code = new_code()
    assert len(code) == 14 and code.count("-") == 2
    assert CODE_LENGTH * math.log2(len(ALPHABET)) >= 60
    assert len({new_code() for _ in range(2000)}) == 2000


def test_codes_are_case_insensitive_and_forgiving():
    code = new_code()
    canonical = code.replace("-", "")
    assert normalize_code(code.lower()) == canonical
    assert normalize_code(" " + canonical.lower() + " ") == canonical
    assert normalize_code("OIL0-1111-2222") == "011011112222"
    assert normalize_code("ABCD-EFGH-JKMU") is None  # U is not Crockford
    assert normalize_code("ABC") is None
    assert normalize_code("x" * 100) is None
    assert normalize_code(None) is None


def test_hash_is_keyed():
    c = normalize_code(new_code())
    assert code_hash(b"a", c) != code_hash(b"b", c)
    assert c not in code_hash(b"a", c)


def test_receipts_are_random_and_short():
    receipts = {new_receipt() for _ in range(1000)}
    assert len(receipts) == 1000
    assert all(len(r) == 9 for r in receipts)

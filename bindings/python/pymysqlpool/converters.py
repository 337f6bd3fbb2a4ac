"""Escaping of Python values into SQL literals, exactly as PyMySQL 1.2 does
except where PyMySQL's is unsafe (see escape_string), and PyMySQL's
text-protocol decoders for the slow (custom `conv`) path."""

import codecs
import datetime
import re
import time
import warnings
from decimal import Decimal

from . import err
from .constants import FIELD_TYPE


def escape_bool(value, mapping=None):
    return str(int(value))


def escape_int(value, mapping=None):
    return str(value)


def escape_float(value, mapping=None):
    text = repr(value)
    if text in ("inf", "-inf", "nan"):
        raise err.ProgrammingError(f"{text} can not be used with MySQL")
    if "e" not in text:
        text += "e0"
    return text


_escape_table = [chr(x) for x in range(128)]
_escape_table[0] = "\\0"
_escape_table[ord("\\")] = "\\\\"
_escape_table[ord("\n")] = "\\n"
_escape_table[ord("\r")] = "\\r"
_escape_table[ord("\032")] = "\\Z"
_escape_table[ord('"')] = '\\"'
_escape_table[ord("'")] = "\\'"


# Python's shift_jis and euc_jp codecs (MySQL's sjis and ujis) write U+00A5
# YEN SIGN as the single byte 0x5C, which the server reads as a backslash:
# '¥' followed by an escaped quote would let the quote close the string
# (PyMySQL 1.2 has this hole). With those codecs '¥' is escaped as the
# backslash the server reads anyway; the stored value (0x5C) is unchanged.
# Encoding every code point with the codec of every charset MariaDB offers
# finds no other non-ASCII character that becomes ' or \ (see
# tests/test_injection.py).
_YEN_AS_BACKSLASH = frozenset({"shift_jis", "euc_jp"})
_escape_table_yen = dict(enumerate(_escape_table))
_escape_table_yen[0xA5] = "\\\\"
_codec_names = {}

# A str may carry raw bytes as lone surrogates U+DC80..U+DCFF
# (surrogateescape), and Connection.query sends them as those bytes. A raw
# lead byte of gbk, big5, sjis or cp932 would swallow the backslash of the
# next escape sequence (0xBF 0x5C is one gbk character) and free the quote
# after it. Each such byte gets a backslash of its own: the server then takes
# it alone, as that byte.
_raw_byte = re.compile("[\udc80-\udcff]")


def _table_for(encoding):
    name = _codec_names.get(encoding)
    if name is None:
        try:
            name = codecs.lookup(encoding).name
        except LookupError:
            name = ""
        _codec_names[encoding] = name
    return _escape_table_yen if name in _YEN_AS_BACKSLASH else _escape_table


def escape_string(value, mapping=None, encoding=None):
    """Escapes a str for use between single quotes (backslash style), for a
    connection whose Python codec is `encoding` (None: any but shift_jis and
    euc_jp)."""
    if value.isascii():
        return value.translate(_escape_table)
    value = value.translate(_escape_table if encoding is None else _table_for(encoding))
    if _raw_byte.search(value) is None:
        return value
    return _raw_byte.sub(_backslash_before, value)


def _backslash_before(match):
    return "\\" + match.group()


def escape_bytes(value, mapping=None):
    return "_binary X'%s'" % value.hex()


def escape_bytes_prefixed(value, mapping=None):
    """Older PyMySQL's bytes literal: _binary'...' (bytes read as latin-1
    code points, backslash-escaped)."""
    return "_binary'%s'" % value.decode("ascii", "surrogateescape").translate(_escape_table)


def escape_str(value, mapping=None):
    return "'" + escape_string(str(value)) + "'"


def escape_None(value, mapping=None):  # noqa: N802 - PyMySQL's name
    return "NULL"


def escape_not_supported(value, charset=None, mapping=None):
    raise TypeError(f"{type(value).__name__} can not be used as parameter")


def escape_dict(value, charset=None, mapping=None):
    raise TypeError("dict can not be used as parameter")


def escape_sequence(value, charset=None, mapping=None):
    """Deprecated (as in PyMySQL): a sequence as "(a,b,...)"."""
    warnings.warn("escape_sequence is deprecated", DeprecationWarning, stacklevel=2)
    return "(" + ",".join([escape_item(item, charset, mapping) for item in value]) + ")"


def escape_set(value, charset=None, mapping=None):
    """Deprecated (as in PyMySQL): a set as "a,b,..."."""
    warnings.warn("escape_set is deprecated", DeprecationWarning, stacklevel=2)
    return ",".join([escape_item(item, charset, mapping) for item in value])


def escape_timedelta(obj, mapping=None):
    sign = ""
    if obj.days < 0:
        sign = "-"
        obj = abs(obj)
    micros = obj.microseconds
    minutes, seconds = divmod(obj.seconds, 60)
    hours, minutes = divmod(minutes, 60)
    hours += obj.days * 24
    if micros:
        return f"'{sign}{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}'"
    return f"'{sign}{hours:02d}:{minutes:02d}:{seconds:02d}'"


def escape_time(obj, mapping=None):
    if obj.microsecond:
        return "'{0.hour:02}:{0.minute:02}:{0.second:02}.{0.microsecond:06}'".format(obj)
    return "'{0.hour:02}:{0.minute:02}:{0.second:02}'".format(obj)


def escape_datetime(obj, mapping=None):
    if obj.microsecond:
        return (
            "'{0.year:04}-{0.month:02}-{0.day:02} "
            "{0.hour:02}:{0.minute:02}:{0.second:02}.{0.microsecond:06}'"
        ).format(obj)
    return "'{0.year:04}-{0.month:02}-{0.day:02} {0.hour:02}:{0.minute:02}:{0.second:02}'".format(obj)


def escape_date(obj, mapping=None):
    return "'{0.year:04}-{0.month:02}-{0.day:02}'".format(obj)


def escape_struct_time(obj, mapping=None):
    return escape_datetime(datetime.datetime(*obj[:6]))


def Decimal2Literal(o, d):  # noqa: N802 - PyMySQL's name
    if not o.is_finite():
        raise err.ProgrammingError("%s can not be used with MySQL" % str(o).lower())
    return format(o, "f")


def escape_item(val, charset=None, mapping=None):
    if mapping is None:
        mapping = encoders
    encoder = mapping.get(type(val)) or mapping.get(str)
    if encoder is None:
        raise TypeError("no default type converter defined")
    if encoder is escape_sequence or encoder is escape_set or encoder is escape_dict:
        return encoder(val, charset, mapping)
    return encoder(val, mapping)


encoders = {
    bool: escape_bool,
    int: escape_int,
    float: escape_float,
    str: escape_str,
    bytes: escape_bytes,
    tuple: escape_not_supported,
    list: escape_not_supported,
    set: escape_not_supported,
    frozenset: escape_not_supported,
    dict: escape_not_supported,
    type(None): escape_None,
    datetime.date: escape_date,
    datetime.datetime: escape_datetime,
    datetime.timedelta: escape_timedelta,
    datetime.time: escape_time,
    time.struct_time: escape_struct_time,
    Decimal: Decimal2Literal,
}


def _second_fraction(text):
    return int(text.ljust(6, "0")[:6]) if text else 0


DATETIME_RE = re.compile(r"(\d{1,4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?")
TIMEDELTA_RE = re.compile(r"(-)?(\d{1,3}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?")
TIME_RE = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,6}))?")


def convert_date(obj):
    if isinstance(obj, (bytes, bytearray)):
        obj = obj.decode("ascii")
    try:
        return datetime.date(*[int(x) for x in obj.split("-", 2)])
    except ValueError:
        return obj


def convert_datetime(obj):
    if isinstance(obj, (bytes, bytearray)):
        obj = obj.decode("ascii")
    match = DATETIME_RE.fullmatch(obj)
    if not match:
        return convert_date(obj)
    try:
        groups = list(match.groups())
        groups[-1] = _second_fraction(groups[-1])
        return datetime.datetime(*[int(x) for x in groups])
    except ValueError:
        return convert_date(obj)


def convert_timedelta(obj):
    if isinstance(obj, (bytes, bytearray)):
        obj = obj.decode("ascii")
    match = TIMEDELTA_RE.fullmatch(obj)
    if not match:
        return obj
    negative, hours, minutes, seconds, fraction = match.groups()
    delta = datetime.timedelta(
        hours=int(hours), minutes=int(minutes), seconds=int(seconds), microseconds=_second_fraction(fraction)
    )
    return -delta if negative else delta


def convert_time(obj):
    """A TIME value as a time of day (datetime.time, with microseconds), for
    those who map FIELD_TYPE.TIME to it in conv; a value that is not one
    (negative, over 23 hours, garbage) stays a str."""
    if isinstance(obj, (bytes, bytearray)):
        obj = obj.decode("ascii")
    match = TIME_RE.fullmatch(obj)
    if not match:
        return obj
    hours, minutes, seconds, fraction = match.groups()
    try:
        return datetime.time(int(hours), int(minutes), int(seconds), _second_fraction(fraction))
    except ValueError:
        return obj


def through(x):
    return x


convert_bit = through

decoders = {
    FIELD_TYPE.BIT: convert_bit,
    FIELD_TYPE.TINY: int,
    FIELD_TYPE.SHORT: int,
    FIELD_TYPE.LONG: int,
    FIELD_TYPE.FLOAT: float,
    FIELD_TYPE.DOUBLE: float,
    FIELD_TYPE.LONGLONG: int,
    FIELD_TYPE.INT24: int,
    FIELD_TYPE.YEAR: int,
    FIELD_TYPE.TIMESTAMP: convert_datetime,
    FIELD_TYPE.DATETIME: convert_datetime,
    FIELD_TYPE.TIME: convert_timedelta,
    FIELD_TYPE.DATE: convert_date,
    FIELD_TYPE.BLOB: through,
    FIELD_TYPE.TINY_BLOB: through,
    FIELD_TYPE.MEDIUM_BLOB: through,
    FIELD_TYPE.LONG_BLOB: through,
    FIELD_TYPE.STRING: through,
    FIELD_TYPE.VAR_STRING: through,
    FIELD_TYPE.VARCHAR: through,
    FIELD_TYPE.DECIMAL: Decimal,
    FIELD_TYPE.NEWDECIMAL: Decimal,
}

conversions = {**encoders, **decoders}
Thing2Literal = escape_str

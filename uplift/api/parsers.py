"""Request bodies: JSON refused with a plain message when it cannot be read."""

import codecs
import json
import math

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json as strict_json


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, answering 400 "Malformed JSON" for any body it cannot read.

    Nesting deeper than the interpreter's recursion limit (a few kilobytes of ``[`` suffice),
    bytes that are not UTF-8 and numbers out of range (NaN, 1e400) are malformed JSON, like a
    syntax error: never a server error, and never the decoder's internal wording.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        parse_constant = strict_json.strict_constant if self.strict else None
        try:
            return json.load(
                codecs.getreader(encoding)(stream),
                parse_constant=parse_constant,
                parse_float=_finite_float,
            )
        except RecursionError:
            raise ParseError("Malformed JSON: nested too deeply.") from None
        except UnicodeDecodeError:
            raise ParseError(f"Malformed JSON: the body is not {encoding} text.") from None
        except json.JSONDecodeError as error:
            # The decoder's own words are about the input: what is wrong, and where.
            raise ParseError(f"Malformed JSON: {error}") from None
        except ValueError:
            # NaN, Infinity, a number beyond the floats (1e400) or with thousands of digits.
            raise ParseError("Malformed JSON: a number is out of range.") from None


def _finite_float(text: str) -> float:
    # 1e400 would read as infinity, which no field takes and some cannot even compare.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value

"""TF Serving's `:predict` request and response formats (tensorflow_serving/util/json_tensor.cc).

Request side: the row format (`instances`, a list of per-example values or objects) or the
columnar one (`inputs`, a value or an object of named tensors) becomes named numpy arrays
whose dtypes come from the signature, with the real server's checks and messages.
Response side: named arrays become the `predictions` (row) or `outputs` (columnar) document,
in the format the request used. Parsing the body is `_json_document`'s; the values are
converted by `_json_decode` and printed by `_json_encode`.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping

import numpy as np

from serving._json_decode import array_from_json, is_b64_object, numeric_array_fast
from serving._json_document import debug_string
from serving._json_encode import tensor_text
from serving.errors import InvalidArgumentError


class RequestFormat(enum.Enum):
    ROW = "instances"
    COLUMNAR = "inputs"


def _shape_string(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(s) for s in shape) + "]"


def _status_string(error: InvalidArgumentError) -> str:
    return f"{error.code}: {error.message}"


def _tensors_from_instances(
    instances: list, input_dtypes: Mapping[str, int], fast_numeric: bool
) -> dict:
    first = instances[0]
    if fast_numeric and len(input_dtypes) == 1 and not isinstance(first, dict):
        (name,) = input_dtypes
        array = numeric_array_fast(instances, input_dtypes[name])
        if array is not None:
            return {name: array}
    if not isinstance(first, dict) and len(input_dtypes) > 1:
        raise InvalidArgumentError(
            "instances is a plain list, but expecting list of objects as multiple input "
            "tensors required as per tensorinfo_map"
        )

    def is_named_object(v: object) -> bool:
        return isinstance(v, dict) and not is_b64_object(v)

    objects = is_named_object(first)
    input_names = sorted(input_dtypes)
    rows: dict[str, list[np.ndarray]] = {}

    def add(name: str, value: object) -> None:
        if name not in input_dtypes:
            raise InvalidArgumentError(f"JSON object: does not have named input: {name}")
        array = array_from_json(value, input_dtypes[name])
        previous = rows.setdefault(name, [])
        if previous:
            if previous[0].size != array.size:
                raise InvalidArgumentError(
                    f"Expecting tensor size: {previous[0].size} but got: {array.size}"
                )
            if previous[0].shape != array.shape:
                raise InvalidArgumentError(
                    f"Expecting shape {_shape_string(previous[0].shape)} but got: "
                    f"{_shape_string(array.shape)}"
                )
        previous.append(array)

    for index, element in enumerate(instances):
        if objects:
            if not is_named_object(element):
                raise InvalidArgumentError(
                    f"Expecting object but got list at item {index} of input list"
                )
            for name, value in element.items():
                try:
                    add(name, value)
                except InvalidArgumentError as e:
                    raise InvalidArgumentError(
                        f"Failed to process element: {index} key: {name} of 'instances' list. "
                        f"Error: {_status_string(e)}"
                    ) from None
            if sorted(element) != input_names:
                raise InvalidArgumentError(
                    f"Failed to process element: {index} of 'instances' list. JSON object: "
                    f"{debug_string(element)} keys must be equal to: {','.join(input_names)}"
                )
        else:
            if is_named_object(element):
                raise InvalidArgumentError(
                    f"Expecting value/list but got object at item {index} of input list"
                )
            try:
                add(input_names[0], element)
            except InvalidArgumentError as e:
                raise InvalidArgumentError(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"Error: {_status_string(e)}"
                ) from None
    return {name: np.stack(arrays) for name, arrays in rows.items()}


def _tensors_from_inputs(
    value: object, input_dtypes: Mapping[str, int], fast_numeric: bool
) -> dict:
    def to_array(item: object, dtype: int) -> np.ndarray:
        fast = numeric_array_fast(item, dtype) if fast_numeric else None
        return fast if fast is not None else array_from_json(item, dtype)

    if not isinstance(value, dict) or is_b64_object(value):
        if len(input_dtypes) > 1:
            raise InvalidArgumentError(
                "inputs is a plain value/list, but expecting an object as multiple input "
                "tensors required as per tensorinfo_map"
            )
        (name,) = input_dtypes
        return {name: to_array(value, input_dtypes[name])}
    tensors = {}
    for name in sorted(input_dtypes):
        if name not in value:
            raise InvalidArgumentError(f"Missing named input: {name} in 'inputs' object.")
        tensors[name] = to_array(value[name], input_dtypes[name])
    return tensors


def tensors_from_document(
    doc: dict, input_dtypes: Mapping[str, int], signature_name: str, fast_numeric: bool = False
) -> tuple[dict[str, np.ndarray], RequestFormat]:
    """Named input arrays of the request, typed by the signature's `input_dtypes`.

    `fast_numeric=True` (the body has no `true`/`false` token) lets dense numeric tensors be
    converted in one numpy call: a 50 MB body then takes seconds, not a minute.
    """
    if not input_dtypes:
        raise InvalidArgumentError(
            f"Failed to get input map for signature: {signature_name or 'DEFAULT'}"
        )
    has_instances, has_inputs = "instances" in doc, "inputs" in doc
    if has_instances and has_inputs:
        raise InvalidArgumentError(
            f"JSON Value: {debug_string(doc)} Not formatted correctly expecting only one of "
            "'inputs' or 'instances' keys to exist "
        )
    if has_instances:
        instances = doc["instances"]
        if not isinstance(instances, list):
            raise InvalidArgumentError(
                f"JSON Value: {debug_string(doc)} Expecting 'instances' to be an list/array"
            )
        if not instances:
            raise InvalidArgumentError(
                f"JSON Value: {debug_string(doc)} No values in 'instances' array"
            )
        return _tensors_from_instances(instances, input_dtypes, fast_numeric), RequestFormat.ROW
    if has_inputs:
        return (
            _tensors_from_inputs(doc["inputs"], input_dtypes, fast_numeric),
            RequestFormat.COLUMNAR,
        )
    raise InvalidArgumentError("Missing 'inputs' or 'instances' key")


def _is_bytes_output(name: str, array: np.ndarray) -> bool:
    # The real server's convention: string outputs whose alias ends in "_bytes" are binary.
    return array.dtype.kind in "OS" and name.endswith("_bytes")


def document_from_tensors(outputs: Mapping[str, np.ndarray], fmt: RequestFormat) -> bytes:
    """The response body for `outputs`, in the format the request used."""
    if not outputs:
        raise InvalidArgumentError("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    as_b64 = {n: _is_bytes_output(n, outputs[n]) for n in names}
    if fmt is RequestFormat.COLUMNAR:
        if len(names) == 1:
            body = tensor_text(outputs[names[0]], as_b64[names[0]])
        else:
            body = (
                "{"
                + ", ".join(f"{json.dumps(n)}: {tensor_text(outputs[n], as_b64[n])}" for n in names)
                + "}"
            )
        return ('{"outputs": ' + body + "}").encode("utf-8")

    batch = -1
    for name in names:
        shape = outputs[name].shape
        if not shape:
            raise InvalidArgumentError(f"Tensor name: {name} has no shape information ")
        if batch >= 0 and shape[0] != batch:
            raise InvalidArgumentError(
                f"Tensor name: {name} has inconsistent batch size: {shape[0]} expecting: {batch}"
            )
        batch = shape[0]
    if len(names) == 1:
        # One output: the list of rows is the tensor itself.
        return ('{"predictions": ' + tensor_text(outputs[names[0]], as_b64[names[0]]) + "}").encode(
            "utf-8"
        )
    rows = []
    for item in range(batch):
        parts = [
            f"{json.dumps(name)}: {tensor_text(outputs[name][item, ...], as_b64[name])}"
            for name in names
        ]
        rows.append("{" + ", ".join(parts) + "}")
    return ('{"predictions": [' + ", ".join(rows) + "]}").encode("utf-8")

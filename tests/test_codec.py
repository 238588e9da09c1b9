"""The request contract (templates/shared/serving/codec.py) and the Lambda handler template that serves it."""
import csv
import importlib.util
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, strategies as st
from jinja2 import Environment
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT / "templates" / "shared"
LAMBDA = ROOT / "templates" / "lambda"
LAMBDA_PROJECT = LAMBDA / "{{cookiecutter.project_slug}}"
HANDLER_FILES = [
    "src/serving/__init__.py",
    "src/serving/codec.py",
    "src/serving/lambda_handler.py",
    "tests/conftest.py",
    "tests/test_handler.py",
]


def load_codec():
    spec = importlib.util.spec_from_file_location("codec_under_test", SHARED / "serving" / "codec.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # a __pycache__ in templates/ would be rendered
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    return module


codec = load_codec()
IRIS = load_iris()
ROWS = IRIS.data[[0, 50, 100]]  # one flower of each species
MODEL = LogisticRegression(max_iter=1000).fit(IRIS.data, IRIS.target)


def iris_predict(rows, return_probabilities=False):
    """An adapter's predict: codec.call_predict around a user predict like the generated sklearn one."""
    return codec.call_predict(user_predict, MODEL, rows, return_probabilities)


def user_predict(model, rows, return_probabilities=False):
    labels = model.predict(np.asarray(rows, dtype=float))
    if not return_probabilities:
        return labels
    return {"predictions": labels, "probabilities": model.predict_proba(np.asarray(rows, dtype=float))}


def returning(value):
    """A predict function that ignores its inputs and returns value."""
    return lambda inputs, return_probabilities=False: value


class Recorder:
    """A predict function that remembers what it was given."""

    def __call__(self, inputs, return_probabilities=False):
        self.inputs = inputs
        return [0]


def post(body, content_type="application/json", accept=None, predict=iris_predict, limit=1_000_000):
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
    return codec.respond(body, content_type, accept, predict, limit)


def error_of(response):
    assert response.content_type == "application/json"
    return json.loads(response.body)["error"]


def predictions_of(response):
    assert (response.status, response.content_type) == (200, "application/json")
    return json.loads(response.body)["predictions"]


# --- JSON requests ---------------------------------------------------------------------------

def test_instances_as_lists_get_the_model_predictions():
    assert predictions_of(post({"instances": ROWS.tolist()})) == [0, 1, 2]


@pytest.mark.parametrize("content_type", [
    None, "", "application/json", "application/json; charset=utf-8", "Application/JSON",
])
def test_json_is_the_default_and_parameters_are_ignored(content_type):
    assert predictions_of(post({"instances": ROWS.tolist()}, content_type)) == [0, 1, 2]


def test_rows_as_objects_are_passed_on_as_they_are():
    recorder = Recorder()
    predictions_of(post({"instances": [{"sepal_length": 5.1}, {"sepal_length": 6.3}]}, predict=recorder))
    assert recorder.inputs == [{"sepal_length": 5.1}, {"sepal_length": 6.3}]


def test_inputs_can_be_anything_and_reach_predict_unchanged():
    recorder = Recorder()
    predictions_of(post({"inputs": {"text": "hello", "k": 3}}, predict=recorder))
    assert recorder.inputs == {"text": "hello", "k": 3}


def test_extra_keys_are_accepted_and_exposed_as_options():
    body = {"instances": ROWS.tolist(), "return_probabilities": True, "trace": "abc"}
    assert predictions_of(post(body)) == [0, 1, 2]
    request = codec.decode_request(json.dumps(body).encode(), "application/json")
    assert request.options == {"return_probabilities": True, "trace": "abc"}
    assert request.inputs == ROWS.tolist()


def test_probabilities_come_beside_the_labels_when_asked_for():
    response = post({"instances": ROWS.tolist(), "return_probabilities": True})
    assert response.status == 200
    body = json.loads(response.body)
    assert body["predictions"] == [0, 1, 2]
    assert np.allclose(body["probabilities"], MODEL.predict_proba(ROWS))
    assert json.loads(post({"instances": ROWS.tolist(), "return_probabilities": False}).body) == {
        "predictions": [0, 1, 2]}


def test_probabilities_as_csv_follow_each_label():
    response = post({"instances": ROWS.tolist(), "return_probabilities": True}, accept="text/csv")
    rows = list(csv.reader(io.StringIO(response.body.decode())))
    assert [int(row[0]) for row in rows] == [0, 1, 2]
    assert np.allclose([[float(v) for v in row[1:]] for row in rows], MODEL.predict_proba(ROWS))


@pytest.mark.parametrize("predict", [
    returning({"predictions": [0], "probabilities": None}),  # the model has none: predict says so
    lambda rows, asked: codec.call_predict(lambda model, rows: [0], None, rows, asked),  # an older predict
])
def test_probabilities_from_a_model_without_them_are_a_client_error(predict):
    response = post({"instances": [[1, 2]], "return_probabilities": True}, predict=predict)
    assert response.status == 400
    assert error_of(response)["code"] == codec.NO_PROBABILITIES
    assert post({"instances": [[1, 2]]}, predict=predict).status == 200


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_return_probabilities_must_be_a_boolean(value):
    response = post({"instances": ROWS.tolist(), "return_probabilities": value})
    assert response.status == 400
    assert error_of(response)["code"] == codec.INVALID_SHAPE


def test_texts_are_rows_too():
    recorder = Recorder()
    predictions_of(post({"instances": ["a good film", "a bad one"]}, predict=recorder))
    assert recorder.inputs == ["a good film", "a bad one"]


def test_a_byte_order_mark_is_tolerated():
    assert predictions_of(post(b"\xef\xbb\xbf" + json.dumps({"instances": ROWS.tolist()}).encode())) == [0, 1, 2]


@pytest.mark.parametrize("document", [
    [[1, 2, 3, 4]],  # bare list
    {"instances": [[1, 2, 3, 4]], "inputs": [[1, 2, 3, 4]]},  # both keys
    {"rows": [[1, 2, 3, 4]]},  # neither
    {"instances": []},  # empty
    {"instances": [1, 2, 3, 4]},  # rows that are neither lists, objects nor texts
    {"instances": "1,2,3,4"},  # not a list
    42,
])
def test_wrong_shape_is_400_and_says_the_expected_shape(document):
    response = post(document)
    assert response.status == 400
    assert error_of(response)["code"] == codec.INVALID_SHAPE
    assert '{"instances": [row, ...]}' in error_of(response)["message"]


@pytest.mark.parametrize("body", [
    b'{"instances": [[1, 2',  # truncated
    b"",  # empty
    '{"instances": [["caf\u00e9"]]}'.encode("latin-1"),  # not UTF-8
    b"[" * 100_000,  # nested deeper than the parser recurses
])
def test_malformed_json_is_400_and_says_the_expected_shape(body):
    response = post(body)
    assert response.status == 400
    assert error_of(response)["code"] == codec.MALFORMED_BODY
    assert '{"instances": [row, ...]}' in error_of(response)["message"]


# --- CSV requests ----------------------------------------------------------------------------

def test_csv_rows_get_the_model_predictions():
    body = "\n".join(",".join(str(value) for value in row) for row in ROWS).encode()
    assert predictions_of(post(body, "text/csv")) == [0, 1, 2]


def test_csv_cells_become_numbers_where_they_are_numbers():
    recorder = Recorder()
    body = b'1,2.5,-3,1e3,red,"a, b"\r\n\r\n4,5,6,7,blue,c\r\n'  # CRLF, a blank line, a quoted comma
    predictions_of(post(body, "text/csv; charset=utf-8", predict=recorder))
    assert recorder.inputs == [[1, 2.5, -3, 1000.0, "red", "a, b"], [4, 5, 6, 7, "blue", "c"]]
    assert [type(cell) for cell in recorder.inputs[0][:4]] == [int, float, int, float]


@pytest.mark.parametrize("body", [b"", b"\n\r\n"])
def test_csv_without_rows_is_400(body):
    response = post(body, "text/csv")
    assert (response.status, error_of(response)["code"]) == (400, codec.INVALID_SHAPE)


@pytest.mark.parametrize("body", [b"\xff\xfe1,2\n", b'"' + b"x" * 200_000 + b'"'],
                         ids=["not UTF-8", "a field over csv's size limit"])
def test_unreadable_csv_is_400(body):
    response = post(body, "text/csv")
    assert (response.status, error_of(response)["code"]) == (400, codec.MALFORMED_BODY)
    assert "CSV rows" in error_of(response)["message"]


# --- content type, size ----------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/x-npy"])
def test_unsupported_content_type_is_415_naming_the_supported_ones(content_type):
    response = post({"instances": ROWS.tolist()}, content_type)
    assert (response.status, error_of(response)["code"]) == (415, codec.UNSUPPORTED_MEDIA_TYPE)
    assert "application/json" in error_of(response)["message"] and "text/csv" in error_of(response)["message"]


def test_body_at_the_limit_is_fine_and_one_byte_over_is_413():
    body = json.dumps({"instances": ROWS.tolist()}).encode()
    assert post(body, limit=len(body)).status == 200
    response = post(body, limit=len(body) - 1)
    assert (response.status, error_of(response)["code"]) == (413, codec.BODY_TOO_LARGE)
    assert str(len(body) - 1) in error_of(response)["message"]


# --- Accept ----------------------------------------------------------------------------------

@pytest.mark.parametrize("accept, media_type", [
    (None, "application/json"),
    ("", "application/json"),
    ("*/*", "application/json"),
    ("application/json", "application/json"),
    ("application/*", "application/json"),
    ("text/csv", "text/csv"),
    ("text/*", "text/csv"),
    ("text/csv, application/json", "application/json"),  # a tie goes to JSON
    ("text/csv;q=0.5, application/json", "application/json"),
    ("application/json;q=0.2, text/csv;q=0.8", "text/csv"),
    ("*/*;q=0.1, text/csv", "text/csv"),
    ("text/csv;q=0, */*", "application/json"),  # the most specific range decides
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "application/json"),  # a browser
    ("application/json;q=oops, text/csv;q=0.5", "application/json"),  # a malformed q-value is ignored
    ("TEXT/CSV; Q=0.9", "text/csv"),
])
def test_accept_picks_the_response_type(accept, media_type):
    response = post({"instances": ROWS.tolist()}, accept=accept)
    assert (response.status, response.content_type) == (200, media_type)


@pytest.mark.parametrize("accept", ["application/xml", "text/html", "application/json;q=0, text/csv;q=0", "*/*;q=0"])
def test_accept_allowing_neither_is_406(accept):
    response = post({"instances": ROWS.tolist()}, accept=accept)
    assert (response.status, error_of(response)["code"]) == (406, codec.NOT_ACCEPTABLE)


def test_406_comes_before_parsing_the_body():
    assert post(b"not even json", accept="image/png").status == 406


# --- responses -------------------------------------------------------------------------------

def test_csv_response_has_one_row_per_prediction():
    response = post({"instances": ROWS.tolist()}, accept="text/csv")
    assert (response.status, response.content_type) == (200, "text/csv")
    assert response.body == b"0\n1\n2\n"


def test_csv_response_puts_a_list_prediction_in_several_columns():
    probabilities = MODEL.predict_proba(ROWS)
    response = post({"instances": ROWS.tolist()}, accept="text/csv", predict=returning(probabilities))
    lines = response.body.decode().splitlines()
    assert [[float(cell) for cell in line.split(",")] for line in lines] == probabilities.tolist()


def test_csv_response_of_a_single_scalar():
    assert post({"inputs": 1}, accept="text/csv", predict=returning(np.float64(2.5))).body == b"2.5\n"


@pytest.mark.parametrize("result, expected", [
    (np.array([[0.1, 0.9], [0.7, 0.3]]), [[0.1, 0.9], [0.7, 0.3]]),
    (np.array([1, 2], dtype=np.int64), [1, 2]),
    ([np.int64(3), np.float32(0.5), np.bool_(True), np.str_("setosa")], [3, 0.5, True, "setosa"]),
    (np.float64(1.5), 1.5),
    (np.array([np.nan, np.inf, -np.inf, 1.0]), [None, None, None, 1.0]),
    ([float("nan"), {"score": np.float64(np.nan)}], [None, {"score": None}]),
    ((1, 2), [1, 2]),
    ({"labels": np.array(["a", "b"]), "scores": np.array([0.25, 0.75])},
     {"labels": ["a", "b"], "scores": [0.25, 0.75]}),
])
def test_json_response_is_plain_strict_json(result, expected):
    response = post({"inputs": 0}, predict=returning(result))
    assert predictions_of(response) == expected
    json.loads(response.body, parse_constant=lambda name: pytest.fail(f"{name} in the response body"))


@pytest.mark.parametrize("result, accept", [
    (object(), None),
    ({1, 2}, None),
    (b"bytes", None),
    ([[1, [2, 3]]], "text/csv"),  # a cell cannot hold a list
    ([{"label": "a"}], "text/csv"),
])
def test_predictions_that_cannot_be_encoded_are_500(result, accept, caplog):
    response = post({"inputs": 0}, accept=accept, predict=returning(result))
    assert (response.status, error_of(response)["code"]) == (500, codec.UNSERIALIZABLE_PREDICTION)
    assert any(record.exc_info for record in caplog.records if record.name == "serving")


def test_predict_raising_is_500_logged_and_never_leaked(caplog):
    def broken(rows, return_probabilities=False):
        raise ValueError("X has 3 features, secret internals at /srv/model.py line 12")

    response = post({"instances": ROWS.tolist()}, predict=broken)
    assert (response.status, error_of(response)["code"]) == (500, codec.PREDICTION_FAILED)
    assert "logs" in error_of(response)["message"]
    assert b"secret" not in response.body and b"Traceback" not in response.body
    [record] = [record for record in caplog.records if record.name == "serving"]
    assert record.exc_info[0] is ValueError  # the traceback goes to the log


def test_model_rejecting_the_rows_is_500():
    assert post({"instances": [[1, 2]]}).status == 500  # iris has 4 features; sklearn raises


# --- whatever arrives ---

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=9), children, max_size=3),
    max_leaves=10,
)


@given(body=st.binary(max_size=300) | JSON_VALUES.map(lambda value: json.dumps(value).encode()),
       content_type=st.sampled_from([None, "application/json", "text/csv", "text/plain; charset=utf-8"]),
       accept=st.none() | st.text(max_size=40))
def test_any_request_gets_a_well_formed_answer(body, content_type, accept):
    response = codec.respond(body, content_type, accept, returning([1.5, None]), max_body_bytes=200)
    if response.status == 200:
        assert response.content_type in ("application/json", "text/csv")
    else:
        assert response.status in (400, 406, 413, 415)
        message = error_of(response)["message"]
        assert message.endswith(".") and "\n" not in message  # one sentence


# --- errors and health -----------------------------------------------------------------------

def test_error_response_shape():
    response = codec.error_response(400, "some_code", "Something is wrong.")
    assert response == codec.Response(400, "application/json", response.body)
    assert json.loads(response.body) == {"error": {"code": "some_code", "message": "Something is wrong."}}


def test_health_responses():
    assert codec.ready_response().status == 200
    not_ready = codec.not_ready_response()
    assert (not_ready.status, error_of(not_ready)["code"]) == (503, codec.NOT_READY)


def test_error_codes_are_distinct_snake_case_constants():
    codes = [codec.MALFORMED_BODY, codec.INVALID_SHAPE, codec.METHOD_NOT_ALLOWED, codec.NOT_ACCEPTABLE,
             codec.BODY_TOO_LARGE, codec.UNSUPPORTED_MEDIA_TYPE, codec.PREDICTION_FAILED,
             codec.UNSERIALIZABLE_PREDICTION, codec.NOT_READY]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", code) for code in codes)


def test_response_is_frozen():
    with pytest.raises(AttributeError):
        codec.ready_response().status = 500


# --- the templates ---------------------------------------------------------------------------

def jinja_expressions(source):
    """Every Jinja construct in source, as (kind, text); a {% ... %} or {# ... #} is never intended here."""
    found, kind, text = [], None, []
    for _, token, value in Environment().lex(source):
        if token in ("variable_begin", "block_begin", "comment_begin"):
            kind, text = token, []
        elif token in ("variable_end", "block_end", "comment_end"):
            found.append((kind, "".join(text).strip()))
            kind = None
        elif kind:
            text.append(value)
    return found


@pytest.mark.parametrize("path", [
    SHARED / "serving" / "codec.py",
    *(LAMBDA_PROJECT / name for name in HANDLER_FILES if name != "src/serving/codec.py"),
], ids=lambda path: path.name)
def test_templates_hold_no_jinja_but_cookiecutter_variables(path):
    """Only cookiecutter variables, and includes of shared partials that exist."""
    keys = json.loads((LAMBDA / "cookiecutter.json").read_text())
    source = path.read_text()
    for kind, text in jinja_expressions(source):
        if kind == "block_begin" and text.startswith("include '"):
            assert (SHARED / text.split("'")[1]).is_file(), text
            continue
        assert kind == "variable_begin", f"{path.name}: unexpected Jinja {kind}: {text!r}"
        assert text.startswith("cookiecutter.") and text.removeprefix("cookiecutter.") in keys, text


@pytest.fixture
def lambda_project(cli, iris_model, tmp_path):
    """A Lambda project rendered by deploygen itself from the example model."""
    project = tmp_path / "project"
    result = cli("init", iris_model, "--target", "lambda", "--output", project)
    assert result.exit_code == 0, result.output
    return project


def test_the_lambda_codec_is_the_shared_codec_verbatim(lambda_project):
    assert (lambda_project / "src/serving/codec.py").read_bytes() == (SHARED / "serving" / "codec.py").read_bytes()


# --- the Lambda handler, end to end ----------------------------------------------------------

def run_python(project, *args, **env):
    """Run Python in the rendered project, in this environment minus what would steer the handler, plus env."""
    steering = ("MODEL_DIR", "MAX_BODY_BYTES", "PYTHONPATH")
    clean = {key: value for key, value in os.environ.items() if key not in steering}
    return subprocess.run([sys.executable, *args], cwd=project, env={**clean, **env},
                          capture_output=True, text=True, timeout=300)


HANDLER_PROBE = """\
import json, sys
sys.path[:0] = ["src", "tests"]
from conftest import function_url_event
from serving.lambda_handler import handler
for args, changes in json.loads(sys.argv[1]):
    response = handler({**function_url_event(*args), **changes}, None)
    print(json.dumps([response["statusCode"], response["body"]]))
"""


def probe(project, model_dir, *requests):
    """Import the rendered handler in a fresh interpreter; [status, body] for each (event args, event changes)."""
    result = run_python(project, "-c", HANDLER_PROBE, json.dumps(requests), MODEL_DIR=str(model_dir))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


@pytest.mark.slow
def test_a_model_that_fails_to_load_gets_503_not_a_crashed_init(lambda_project):
    answers, log = probe(lambda_project, lambda_project / "nowhere",
                         [["GET"], {}], [["POST", '{"instances": [[1, 2, 3, 4]]}'], {}])
    assert [status for status, _ in answers] == [503, 503]
    assert all(json.loads(body)["error"]["code"] == codec.NOT_READY for _, body in answers)
    assert "Traceback" in log and "nowhere" in log  # the load failure is logged with its traceback


@pytest.mark.slow
def test_invalid_base64_is_400_and_headers_are_case_insensitive(lambda_project):
    answers, _ = probe(lambda_project, lambda_project / "model",
                       [["POST"], {"body": "not base64!", "isBase64Encoded": True}],
                       [["POST", '{"instances": [[5.1, 3.5, 1.4, 0.2]]}'],
                        {"headers": {"Content-Type": "application/json", "ACCEPT": "text/csv"}}])
    (status, body), csv_answer = answers
    assert (status, json.loads(body)["error"]["code"]) == (400, codec.MALFORMED_BODY)
    assert csv_answer == [200, "0\n"]

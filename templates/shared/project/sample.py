{#- The sample request and what predict makes of it, for the handler's or the server's tests. -#}
SAMPLE_BODY = (Path(__file__).parent / "sample_request.json").read_text(encoding="utf-8")
SAMPLE_INPUTS = codec.decode_request(SAMPLE_BODY.encode("utf-8"), "application/json").inputs  # what predict receives


def to_csv(rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(row if isinstance(row, list) else [row] for row in rows)
    return out.getvalue()


@pytest.fixture(scope="module")
def expected():
    """What predict returns for the sample rows, as the JSON sent back."""
    model = inference.load(os.environ["MODEL_DIR"])
    return codec.to_jsonable(inference.predict(model, SAMPLE_INPUTS))


@pytest.fixture
def sample_csv():
    if not (isinstance(SAMPLE_INPUTS, list) and all(isinstance(row, list) for row in SAMPLE_INPUTS)):
        pytest.skip("CSV needs a sample request whose instances are lists")
    return to_csv(SAMPLE_INPUTS)

"""A reviewer sees each case's posterior: a picture, and its distance to the truth when the
case ships one (the demo cases do, as the local demo seeds them)."""

from __future__ import annotations

import base64
import re

import pandas as pd
import pytest

from platform_assets.kalman.cases import case_key
from platform_assets.kalman.demo import DEMO_CASES, case_files, make_case
from platform_assets.kalman.pictures import TRUTH_FILE
from tests.kalman.helpers import materialize_case, run_sensor

pytestmark = pytest.mark.slow  # runs the external program


def test_posterior_materialization_carries_a_picture_and_the_distance_to_the_truth(instance, blob):
    demo = make_case(DEMO_CASES["demo-smooth"])
    for filename, data in case_files(demo).items():
        blob.write_bytes(case_key("demo-smooth", filename), data)
    blob.write_bytes(case_key("demo-smooth", TRUTH_FILE), pd.DataFrame({"truth": demo.truth}).to_parquet())
    run_sensor(instance, blob, None)
    result = materialize_case(instance, blob, "demo-smooth", checks=False)
    assert result.success
    [materialization] = result.asset_materializations_for_node("kalman__posterior")
    metadata = materialization.metadata
    picture = re.fullmatch(r"!\[demo-smooth\]\(data:image/png;base64,(.+)\)", metadata["posterior_plot"].value)
    assert picture and base64.b64decode(picture.group(1)).startswith(b"\x89PNG")
    # the analysis pulls the ensemble towards observations of the truth: closer than the prior
    assert metadata["posterior_rmse_vs_truth"].value < metadata["prior_rmse_vs_truth"].value


def test_without_a_truth_there_is_a_picture_and_no_distance(instance, blob):
    for filename, data in case_files(make_case(DEMO_CASES["demo-sparse"])).items():
        blob.write_bytes(case_key("demo-sparse", filename), data)
    run_sensor(instance, blob, None)
    result = materialize_case(instance, blob, "demo-sparse", checks=False)
    [materialization] = result.asset_materializations_for_node("kalman__posterior")
    assert "posterior_plot" in materialization.metadata
    assert "posterior_rmse_vs_truth" not in materialization.metadata

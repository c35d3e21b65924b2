"""The linalg precompile hook (issue 11 item 7) runs every kernel on tiny inputs."""


def test_precompile_runs():
    from numopt.linalg._precompile import precompile

    assert precompile() is None

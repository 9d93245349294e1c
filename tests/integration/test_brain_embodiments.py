"""GET /api/v1/brains/{id}/embodiments: the robots registered over ZMQ drive the default brain,
and its embodiments endpoint lists them while they are registered."""

from test_brain_robot import Client, ctx, relay_brain, robot_daemon  # noqa: F401 (ctx: fixture)


def test_embodiments_lists_the_registered_robots_of_the_default_brain(make_daemon, ctx):  # noqa: F811
    d, router, _s, _m = robot_daemon(make_daemon)
    bid = relay_brain(d)
    assert d.get(f"/api/v1/brains/{bid}/embodiments").json() == {"embodiments": []}
    a = Client(ctx, router)
    assert "success" in a.register()
    emb = d.get(f"/api/v1/brains/{bid}/embodiments").json()["embodiments"]
    assert len(emb) == 1 and "agent_id" in emb[0]
    assert a.deregister() == "success"
    assert d.get(f"/api/v1/brains/{bid}/embodiments").json() == {"embodiments": []}

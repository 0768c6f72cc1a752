"""A short GAN run on the ring of 8 Gaussians captures modes (issue 6's fast check); the long run is
benchmarks/gan_ring.py."""

from .helpers import SPECS, trained

# gan_ring.nn's method, data and schedule on narrower, shallower nets and a higher rate: seconds, not minutes
NARROWER = {"g[400] relu repeat=4": "g[64] relu repeat=3",
            "d[200] leaky_relu(slope=0.2) repeat=3": "d[64] leaky_relu(slope=0.2) repeat=2"}
SHORT = ["epochs=30", "optimizer=adam(lr=2e-3, beta1=0.5)", "seed=0"]


def _narrow_ring_spec(tmp_path):
    text = (SPECS / "gan_ring.nn").read_text()
    for wide, narrow in NARROWER.items():
        assert wide in text, f"gan_ring.nn no longer declares {wide!r}: update this test"
        text = text.replace(wide, narrow)
    path = tmp_path / "gan_ring_narrow.nn"
    path.write_text(text)
    return path


def test_a_short_run_captures_at_least_four_modes_and_reports_them_every_epoch(tmp_path):
    records = trained(_narrow_ring_spec(tmp_path), SHORT).history.records
    assert all({"val_modes", "val_high_quality", "val_d_real", "val_d_fake"} <= set(r) for r in records)
    assert records[0]["val_modes"] == 0  # an untrained generator lands nowhere near the ring
    assert records[-1]["val_modes"] >= 4

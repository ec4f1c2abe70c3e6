"""A ground-truth retinal circuit: bipolar subunits, wide-field amacrine inhibition, ganglion cells.

The circuit, stage by stage (all times at the circuit's frame rate, 10 ms frames by default):

1. **Bipolar cells**, one ON and one OFF subunit per stimulus pixel. Linear stage: a
   centre-surround spatial filter (difference of Gaussians, unit L2 norm, so that unit-contrast
   single-pixel white noise gives unit variance) followed by a causal biphasic temporal filter
   (difference of two gamma-like lobes, unit L2 norm, ``filter_length_s`` long). The OFF
   subunit is sign-inverted and has slightly faster kinetics. Output: a thresholded softplus
   ``b = log(1 + exp(beta (u - theta))) / beta``.
2. **Wide-field amacrine cells** pool the mean of the ON and OFF bipolar outputs with a broad
   Gaussian around each ganglion cell, then delay it by ``amacrine_delay_s`` and low-pass it
   with an exponential filter of time constant ``amacrine_tau_s``.
3. **Ganglion cells** of three types: ON, OFF and ON-OFF (which pools both bipolar types).
   Each pools bipolar outputs with a normalised Gaussian of width ``rf_sigma`` pixels:
   ``on_drive = w_on * pool(b_on)``, ``off_drive = w_off * pool(b_off)``,
   ``amacrine = w_amacrine * amacrine pool``, generator ``g = on_drive + off_drive - amacrine``
   (subtractive inhibition), and rate ``r = rate_scale_hz * softplus(g - threshold)`` in Hz.

Two published mechanisms can be switched on (both are off by default, which leaves every
existing simulation unchanged): :class:`OmittedStimulusResonance`, a bank of period-tuned
resonant bipolar terminals that makes ganglion cells fire when an expected flash is missing,
and :class:`ContrastAdaptation`, a slow divisive gain control of the bipolar signals. The
preset :meth:`RetinaCircuit.phenomena` turns both on.

Frames before the first stimulus frame are taken to be mean grey (contrast 0), so the first
frames of a response are those of a retina adapted to grey that sees the stimulus begin.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import optimize, signal

from retinacodec.sim.stimuli import natural_movie, white_noise

__all__ = ["CELL_TYPES", "PATHWAYS", "ContrastAdaptation", "OmittedStimulusResonance", "RetinaCircuit"]

CELL_TYPES = ("ON", "OFF", "ON-OFF")
PATHWAYS = ("on", "off", "amacrine", "resonant")


def _softplus(x: np.ndarray, beta: float = 1.0) -> np.ndarray:
    """Numerically stable ``log(1 + exp(beta x)) / beta``, keeping the dtype of ``x``."""
    y = beta * x
    out = -np.abs(y)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += np.maximum(y, 0)
    out /= beta
    return out


def _biphasic(t_s: np.ndarray, tau1_s: float, tau2_s: float, rebound: float) -> np.ndarray:
    """Difference of two gamma-like lobes peaking near ``tau1_s`` and ``tau2_s``; unit L2 norm."""
    n = 4

    def lobe(tau: float) -> np.ndarray:
        return (t_s / tau) ** n * np.exp(-n * (t_s / tau - 1.0))

    f = lobe(tau1_s) - rebound * lobe(tau2_s)
    return f / np.linalg.norm(f)


def _gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """Matrix (n, n), float32, that blurs a length-n signal with a unit-sum Gaussian truncated at 4 sigma.

    Values beyond the ends count as zero (mean grey).
    """
    radius = int(4.0 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]
    inside = np.abs(offset) <= radius
    return np.where(inside, kernel[np.clip(offset + radius, 0, 2 * radius)], 0.0).astype(np.float32)


def _gaussian_weights(size: tuple[int, int], y: np.ndarray, x: np.ndarray, sigma: np.ndarray | float) -> np.ndarray:
    """Gaussian pooling weights, shape (ny * nx, n), each column summing to 1."""
    gy, gx = np.mgrid[0 : size[0], 0 : size[1]]
    d2 = (gy.reshape(-1, 1) - y) ** 2 + (gx.reshape(-1, 1) - x) ** 2
    w = np.exp(-d2 / (2.0 * np.asarray(sigma) ** 2))
    return w / w.sum(axis=0)


def _exponential_kernel(tau_frames: float) -> np.ndarray:
    """Causal exponential low-pass over 5 time constants, lag 0 first, summing to 1."""
    h = np.exp(-np.arange(int(np.ceil(5 * tau_frames)) + 1) / tau_frames)
    return h / h.sum()


@dataclass(frozen=True)
class OmittedStimulusResonance:
    """Period-tuned resonant bipolar terminals: the omitted stimulus response (OSR).

    Mechanism. Schwartz & Berry (2008, J Neurophysiol 99:1787) found that the OSR of
    salamander ganglion cells needs ON bipolar cells but not amacrine inhibition, and
    proposed an intrinsic resonance of the bipolar cells; Gao, Schwartz, Berry & Holmes
    (2009, Network 20:106) modelled it as a resonator in the bipolar terminal whose period
    is tuned to the flash period, and obtained OSRs whose latency after the omitted flash is
    about constant, as measured. We keep their idea, resonance tuned to the rhythm, in a
    feed-forward form: each pixel has a bank of terminals, one per period ``T`` in
    ``periods_s``. A terminal's impulse response repeats the (OFF-polarity) bipolar filter
    one, two, ... periods after the input, as many cycles as fit in the bipolar filter's
    length (``filter_length_s``), averaged over the cycles and damped by ``decay_s``: after
    a dark flash it predicts the same flash ``T``, ``2T``, ... later. Its input is inhibited
    by the direct (OFF-polarity, low-passed over ``inhibition_width_s``) response to the
    current frame, so a flash that arrives as predicted cancels the prediction; each terminal
    is rectified (bipolar softplus with threshold ``threshold``), so only terminals whose
    period matches a rhythm of several flashes are driven. The ganglion cell pools the
    terminals and fires at the time the next flash is due, delayed by the bipolar latency,
    for any period in the bank (the latency after the omitted flash does not track the last
    flash). Rather than Gao et al.'s single calcium-tuned resonator, whose tuning is a slow
    state, the bank is fixed and lasts no longer than the bipolar filter, so a model that
    sees 40 frames (0.4 s) of history can represent the whole circuit.

    Attributes
    ----------
    periods_s : tuple of float
        Resonant periods of the bank, s (default 50-150 ms in 10 ms steps).
    weight : float
        Weight of the pooled terminals relative to the cell's ON + OFF weight, before the
        circuit's rate calibration.
    inhibition : float
        Strength of the direct inhibition by the current input (1 cancels one predicted flash).
    inhibition_width_s : float
        Width of the box that low-passes the direct inhibition, s (tolerates timing jitter).
    threshold : float
        Threshold of each terminal's softplus, in units of one predicted flash of contrast
        ~1.3 (the OFF filter's peak response to a 2-frame full-field flash of -2).
    decay_s : float
        Damping time constant of the resonance, s.
    cell_types : tuple of str
        Ganglion-cell types that pool the terminals.
    """

    periods_s: tuple[float, ...] = (0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11, 0.12, 0.13, 0.14, 0.15)
    weight: float = 0.1
    inhibition: float = 1.5
    inhibition_width_s: float = 0.07
    threshold: float = 1.0
    decay_s: float = 1.0
    cell_types: tuple[str, ...] = CELL_TYPES

    def filters(self, off_filter: np.ndarray, frame_rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
        """The terminals' temporal filters and the direct inhibition filter.

        Parameters
        ----------
        off_filter : ndarray, shape (n_lags,)
            The OFF bipolar filter without its sign inversion (unit L2 norm), lag 0 first.
        frame_rate_hz : float
            Frame rate, Hz.

        Returns
        -------
        terminals : ndarray, shape (n_lags, n_periods)
            One column per period: the OFF filter repeated every period, lag 0 first.
        inhibition : ndarray, shape (n_lags,)
            The OFF filter low-passed by a box of ``inhibition_width_s``, rescaled to the OFF
            filter's peak and multiplied by ``inhibition``.
        """
        n_lags = len(off_filter)
        peak = int(np.argmax(off_filter))
        terminals = np.zeros((n_lags, len(self.periods_s)))
        for j, period in enumerate(self.periods_s):
            shifts = [round(m * period * frame_rate_hz) for m in range(1, n_lags)]
            shifts = [k for k in shifts if 0 < k and k + peak < n_lags]
            if not shifts:
                raise ValueError(
                    f"a resonant period of {period} s leaves no cycle within the {n_lags}-frame bipolar filter; "
                    "use shorter periods_s or a longer filter_length_s."
                )
            for k in shifts:
                terminals[k:, j] += off_filter[: n_lags - k] * np.exp(-k / (self.decay_s * frame_rate_hz))
            terminals[:, j] /= len(shifts)
        width = max(1, round(self.inhibition_width_s * frame_rate_hz))
        box = np.convolve(off_filter, np.ones(width))[:n_lags]
        return terminals, box * (self.inhibition * off_filter.max() / box.max())


@dataclass(frozen=True)
class ContrastAdaptation:
    """Slow divisive gain control of the bipolar signals by recent contrast.

    Mechanism. Baccus & Meister (2002, Neuron 36:909) showed that after a step to high
    contrast the ganglion cell's LN model has lower gain and a faster (earlier-peaking)
    linear filter, with a fast (~0.1 s) and a slow (seconds) component located largely in
    the bipolar pathway; Ozuysal & Baccus (2012, Neuron 73:1002) modelled it by a kinetic
    (depressing) stage driven by the bipolar signal. Here each bipolar's linear signal ``u``
    (before its softplus) is divided by recent contrast: the contrast ``c`` is the root of
    ``u²`` low-passed with time constant ``tau_s`` (the bipolar's own signal, so it is
    measured through the receptive field), the gain is ``1 / sqrt(1 + (c / half_contrast)²)``
    and the filter is a mixture of the bipolar filter and one with its lobe times scaled by
    ``speedup``, weighted ``m = c² / (c² + half_contrast²)``:
    ``u_adapted = gain * ((1 - m) u + m u_fast)``. At mean grey (``c = 0``) the circuit is
    the unadapted one; the resonant terminals of :class:`OmittedStimulusResonance` are not
    adapted.

    Attributes
    ----------
    tau_s : float
        Time constant of the contrast estimate, s.
    half_contrast : float
        Contrast (s.d. of the bipolar linear signal; 1 under unit-contrast white noise) at
        which the gain falls to 1/sqrt(2) and the fast filter has half the weight.
    speedup : float
        Lobe times of the fast filter relative to the unadapted filter (< 1 is faster).
    """

    tau_s: float = 0.5
    half_contrast: float = 0.3
    speedup: float = 0.7

    def apply(self, u: np.ndarray, u_fast: np.ndarray, frame_rate_hz: float) -> np.ndarray:
        """Adapt linear bipolar signals.

        Parameters
        ----------
        u, u_fast : ndarray, shape (n_frames + memory, n_pixels)
            The signal through the unadapted and the fast filter; the first ``memory``
            frames (``len(self.kernel(frame_rate_hz)) - 1``) only feed the contrast estimate.
        frame_rate_hz : float
            Frame rate, Hz.

        Returns
        -------
        ndarray, shape (n_frames, n_pixels), float32
        """
        kernel = self.kernel(frame_rate_hz).astype(np.float32)[:, None]
        c2 = np.maximum(signal.fftconvolve(u * u, kernel, mode="valid", axes=0), 0.0) / np.float32(
            self.half_contrast**2
        )
        n = len(c2)
        mix = c2 / (1.0 + c2)
        gain = 1.0 / np.sqrt(1.0 + c2)
        return (gain * ((1.0 - mix) * u[-n:] + mix * u_fast[-n:])).astype(np.float32)

    def kernel(self, frame_rate_hz: float) -> np.ndarray:
        """The contrast estimate's exponential low-pass, lag 0 first, summing to 1."""
        return _exponential_kernel(self.tau_s * frame_rate_hz)


@dataclass
class RetinaCircuit:
    """Parameters of a simulated retina; :meth:`~retinacodec.sim.RetinaCircuit.respond` runs a stimulus through it.

    Per-cell parameters are arrays of shape (n_cells,). Create one with :meth:`random`.

    Attributes
    ----------
    size : (int, int)
        Stimulus frame size ``(ny, nx)`` in pixels; one ON and one OFF bipolar per pixel.
    cell_type : ndarray of str
        ``"ON"``, ``"OFF"`` or ``"ON-OFF"`` per ganglion cell.
    position_y, position_x : ndarray of float
        Receptive-field centre in pixels (row, column).
    rf_sigma : ndarray of float
        Standard deviation of the Gaussian pooling of bipolar subunits, pixels.
    w_on, w_off, w_amacrine : ndarray of float
        Weights of the ON bipolar, OFF bipolar and amacrine inputs (>= 0; generator units).
    threshold : ndarray of float
        Threshold of the output softplus (generator units).
    rate_scale_hz : ndarray of float
        Output gain: rate = ``rate_scale_hz * softplus(generator - threshold)``, Hz.
    frame_rate_hz : float
        Frames per second the filters are sampled at.
    bipolar_center_sigma, bipolar_surround_sigma : float
        Difference-of-Gaussians widths, pixels.
    bipolar_surround_weight : float
        Integral of the surround relative to the centre (0 = no surround, 1 = balanced).
    bipolar_threshold, bipolar_beta : float
        Threshold (in units of the linear response's white-noise s.d.) and sharpness of the
        bipolar softplus.
    on_tau_s, off_tau_s : (float, float)
        Times of the positive and negative lobes of the ON and OFF temporal filters, s.
    rebound : float
        Amplitude of the negative lobe relative to the positive one.
    filter_length_s : float
        Length of the bipolar temporal filters, s.
    amacrine_sigma : float
        Width of the wide-field amacrine pooling, pixels.
    amacrine_delay_s, amacrine_tau_s : float
        Delay and low-pass time constant of the amacrine inhibition, s.
    seed : int or None
        The seed :meth:`random` drew the circuit with (provenance only).
    resonance : OmittedStimulusResonance or None
        The omitted-stimulus mechanism, or None (off).
    adaptation : ContrastAdaptation or None
        The contrast-adaptation mechanism, or None (off).
    w_resonant : ndarray of float or None
        Weight of the pooled resonant terminals per cell (set by :meth:`random` when
        ``resonance`` is given).
    """

    size: tuple[int, int]
    cell_type: np.ndarray
    position_y: np.ndarray
    position_x: np.ndarray
    rf_sigma: np.ndarray
    w_on: np.ndarray
    w_off: np.ndarray
    w_amacrine: np.ndarray
    threshold: np.ndarray
    rate_scale_hz: np.ndarray
    frame_rate_hz: float = 100.0
    bipolar_center_sigma: float = 0.8
    bipolar_surround_sigma: float = 2.5
    bipolar_surround_weight: float = 0.6
    bipolar_threshold: float = 0.3
    bipolar_beta: float = 4.0
    on_tau_s: tuple[float, float] = (0.080, 0.160)
    off_tau_s: tuple[float, float] = (0.065, 0.130)
    rebound: float = 0.4
    filter_length_s: float = 0.4
    amacrine_sigma: float = 5.0
    amacrine_delay_s: float = 0.03
    amacrine_tau_s: float = 0.05
    seed: int | None = None
    resonance: OmittedStimulusResonance | None = None
    adaptation: ContrastAdaptation | None = None
    w_resonant: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        """Number of ganglion cells."""
        return len(self.cell_type)

    @classmethod
    def random(
        cls,
        n_cells_per_type: int = 3,
        size: tuple[int, int] = (20, 20),
        frame_rate_hz: float = 100.0,
        seed: int = 0,
        rf_sigma_range: tuple[float, float] = (1.5, 2.5),
        mean_rate_range_hz: tuple[float, float] = (10.0, 30.0),
        generator_sd: float = 1.2,
        rate_scale_hz: float = 30.0,
        calibration: str = "white_noise",
        calibration_s: float = 30.0,
        **params: float,
    ) -> RetinaCircuit:
        """A random circuit with cells calibrated to fire at realistic rates.

        Cells are placed uniformly at random at least ``2 rf_sigma + 0.5`` pixels from the
        edges and (where room allows) at least 1.5 pixels from each other. ON-OFF cells get an
        OFF weight of 0.6–1.0 times their ON weight; every cell gets an amacrine weight of
        0.6–1.2 times the sum of its excitatory weights. The circuit is then calibrated, like
        a retina adapted to one class of stimulus: on ``calibration_s`` seconds of the
        ``calibration`` stimulus (unit-contrast single-pixel binary white noise, or
        :func:`~retinacodec.sim.stimuli.natural_movie`), each cell's weights are scaled so that its
        generator has standard deviation ``generator_sd``, and its threshold is set so that
        its mean rate equals a target drawn uniformly from ``mean_rate_range_hz``. Natural
        movies drive the pooled subunits about ten times harder than fine white noise, so a
        circuit calibrated on one stimulus fires far more (or less) on the other.

        Parameters
        ----------
        n_cells_per_type : int
            Ganglion cells of each type (ON, OFF, ON-OFF); cells are ordered by type.
        size : (int, int)
            Stimulus size ``(ny, nx)`` in pixels.
        frame_rate_hz : float
            Stimulus frame rate, Hz.
        seed : int
            Random seed; the same seed gives the same circuit.
        rf_sigma_range : (float, float)
            Range of ganglion-cell pooling widths, pixels.
        mean_rate_range_hz : (float, float)
            Range of mean rates under the calibration stimulus, Hz.
        generator_sd : float
            Standard deviation of the generator under the calibration stimulus.
        rate_scale_hz : float
            Output gain, Hz.
        calibration : {"white_noise", "full_field", "natural"}
            Stimulus class the rates are calibrated on (``"full_field"``: binary flicker of the
            whole frame).
        calibration_s : float
            Length of the calibration stimulus, s.
        **params
            Overrides of the other dataclass fields (e.g. ``amacrine_sigma=6.0``).

        Returns
        -------
        RetinaCircuit
        """
        rng = np.random.default_rng(seed)
        n = 3 * n_cells_per_type
        cell_type = np.repeat(np.array(CELL_TYPES), n_cells_per_type)
        rf_sigma = rng.uniform(*rf_sigma_range, size=n)
        pos = np.empty((n, 2))
        for i in range(n):
            margin = 2.0 * rf_sigma[i] + 0.5
            lo, hi = np.full(2, margin), np.array(size, float) - 1.0 - margin
            if np.any(hi < lo):
                raise ValueError(f"a {size} frame is too small for RFs of sigma {rf_sigma[i]:.2f} px.")
            for _ in range(1000):
                pos[i] = rng.uniform(lo, hi)
                if i == 0 or np.min(np.linalg.norm(pos[:i] - pos[i], axis=1)) >= 1.5:
                    break
        w_on = (cell_type != "OFF").astype(float)
        w_off = np.where(cell_type == "OFF", 1.0, 0.0) + np.where(
            cell_type == "ON-OFF", rng.uniform(0.6, 1.0, size=n), 0.0
        )
        w_amacrine = rng.uniform(0.6, 1.2, size=n) * (w_on + w_off)
        resonance = params.get("resonance")
        if resonance is not None:
            params["w_resonant"] = resonance.weight * (w_on + w_off) * np.isin(cell_type, resonance.cell_types)
        target_rate = rng.uniform(*mean_rate_range_hz, size=n)
        circuit = cls(
            size=tuple(size),
            cell_type=cell_type,
            position_y=pos[:, 0],
            position_x=pos[:, 1],
            rf_sigma=rf_sigma,
            w_on=w_on,
            w_off=w_off,
            w_amacrine=w_amacrine,
            threshold=np.zeros(n),
            rate_scale_hz=np.full(n, float(rate_scale_hz)),
            frame_rate_hz=float(frame_rate_hz),
            seed=seed,
            **params,
        )
        n_calib = round(calibration_s * frame_rate_hz)
        if calibration == "white_noise":
            reference = white_noise(n_calib, size=size, seed=rng)
        elif calibration == "full_field":
            reference = white_noise(n_calib, size=size, checker=max(size), seed=rng)
        elif calibration == "natural":
            reference = natural_movie(n_calib, size=size, seed=rng)
        else:
            raise ValueError(f"calibration must be 'white_noise', 'full_field' or 'natural'; got {calibration!r}.")
        pooled_on, pooled_off, amacrine, *resonant = circuit._pathways(reference)
        gen = w_on * pooled_on + w_off * pooled_off - w_amacrine * amacrine
        if resonant:
            gen = gen + circuit.w_resonant * resonant[0]
        gain = generator_sd / gen.std(axis=0)
        gen = gen * gain
        threshold = np.array(
            [
                optimize.brentq(
                    lambda th, g=g, r=r: rate_scale_hz * _softplus(g - th).mean() - r,
                    g.min() - 100.0 - r,
                    g.max() + 100.0,
                )
                for g, r in zip(gen.T, target_rate, strict=True)
            ]
        )
        if resonance is not None:
            circuit = dataclasses.replace(circuit, w_resonant=circuit.w_resonant * gain)
        return dataclasses.replace(
            circuit, w_on=w_on * gain, w_off=w_off * gain, w_amacrine=w_amacrine * gain, threshold=threshold
        )

    @classmethod
    def from_truth(cls, truth: xr.Dataset) -> RetinaCircuit:
        """The circuit a simulated recording came from, rebuilt from its truth (:func:`~retinacodec.sim.save_truth`).

        The truth holds every per-cell parameter (``cell_type``, ``position_y`` ... one value
        per cell) and the circuit-wide ones as ``circuit_<field>`` attributes (mechanisms as
        ``circuit_resonance_<parameter>``, ``circuit_adaptation_<parameter>``), which is all
        :meth:`respond` needs.

        Parameters
        ----------
        truth : xarray.Dataset
            A simulator truth (``retinacodec.load_sample()[1]``, ``load_truth(path)``).

        Returns
        -------
        RetinaCircuit

        Raises
        ------
        ValueError
            If ``truth`` lacks a per-cell parameter or the circuit attributes (not a truth of
            :func:`~retinacodec.sim.simulate_retina`).

        Examples
        --------
        >>> rec, truth = rc.load_sample()
        >>> rc.sim.RetinaCircuit.from_truth(truth).n_cells
        9
        """
        per_cell = ("cell_type", "position_y", "position_x", "rf_sigma", "w_on", "w_off", "w_amacrine", "threshold",
                    "rate_scale_hz")
        missing = [name for name in per_cell if name not in truth] + (
            [] if "circuit_size" in truth.attrs else ["the attribute circuit_size"])
        if missing:
            raise ValueError(f"the truth lacks {missing}: it is not the truth of a simulated recording "
                             "(simulate_retina / retinacodec simulate), so no circuit can be rebuilt from it.")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict = {name: np.asarray(truth[name].values) for name in per_cell}
        kwargs["cell_type"] = kwargs["cell_type"].astype(str)
        if "w_resonant" in truth:
            kwargs["w_resonant"] = np.asarray(truth["w_resonant"].values)
        mechanisms: dict[str, dict] = {"resonance": {}, "adaptation": {}}
        for key, value in truth.attrs.items():
            if not key.startswith("circuit_"):
                continue
            name = key[len("circuit_"):]
            mechanism = next((m for m in mechanisms if name.startswith(f"{m}_")), None)
            if mechanism is not None:
                mechanisms[mechanism][name[len(mechanism) + 1:]] = value
            elif name == "seed":
                kwargs["seed"] = None if int(value) < 0 else int(value)
            elif name in fields:
                kwargs[name] = tuple(np.asarray(value).tolist()) if np.ndim(value) else float(value)
        kwargs["size"] = tuple(int(v) for v in kwargs["size"])
        for mechanism, kind in (("resonance", OmittedStimulusResonance), ("adaptation", ContrastAdaptation)):
            if mechanisms[mechanism]:
                params = {}
                for g in dataclasses.fields(kind):
                    if g.name in mechanisms[mechanism]:
                        v = mechanisms[mechanism][g.name]
                        params[g.name] = (tuple(v.split(",")) if isinstance(v, str) else
                                          tuple(np.asarray(v).tolist()) if np.ndim(v) else float(v))
                kwargs[mechanism] = kind(**params)
        return cls(**kwargs)

    @classmethod
    def phenomena(cls, n_cells_per_type: int = 3, size: tuple[int, int] = (20, 20), seed: int = 0,
                  resonance: bool = True, adaptation: bool = True, **params: float) -> RetinaCircuit:
        """A random circuit with the published mechanisms of retinal phenomena switched on.

        ``OmittedStimulusResonance`` (the omitted stimulus response) and
        ``ContrastAdaptation`` with their default parameters, calibrated on white noise
        like :meth:`random`.

        Parameters
        ----------
        n_cells_per_type, size, seed
            As for :meth:`random`.
        resonance, adaptation : bool
            Which mechanisms to switch on.
        **params
            Further arguments of :meth:`random`.

        Returns
        -------
        RetinaCircuit
        """
        return cls.random(n_cells_per_type, size, seed=seed,
                          resonance=OmittedStimulusResonance() if resonance else None,
                          adaptation=ContrastAdaptation() if adaptation else None, **params)

    def lesion(self, *pathways: str) -> RetinaCircuit:
        """A copy with the named pathways' weights set to zero.

        Parameters
        ----------
        *pathways : {"on", "off", "amacrine", "resonant"}
            Pathways to remove from every ganglion cell.

        Returns
        -------
        RetinaCircuit
        """
        unknown = set(pathways) - set(PATHWAYS)
        if unknown:
            raise ValueError(f"unknown pathway(s) {sorted(unknown)}; choose from {PATHWAYS}.")
        if "resonant" in pathways and self.w_resonant is None:
            raise ValueError("this circuit has no resonant pathway to lesion; build it with resonance=... .")
        return dataclasses.replace(self, **{f"w_{p}": np.zeros_like(getattr(self, f"w_{p}")) for p in pathways})

    def _surround_difference(self, frames: np.ndarray) -> np.ndarray:
        """Centre minus weighted surround Gaussian over the last two axes (grey outside the frame).

        Each Gaussian is separable and applied as two banded matrices (faster than
        ``scipy.ndimage.gaussian_filter`` for frames up to ~100 pixels).
        """
        ny, nx = frames.shape[-2:]
        out = np.zeros(frames.shape, dtype=np.float32)
        for sigma, weight in (
            (self.bipolar_center_sigma, 1.0),
            (self.bipolar_surround_sigma, -self.bipolar_surround_weight),
        ):
            gy, gx = _gaussian_matrix(ny, sigma), _gaussian_matrix(nx, sigma)
            out += np.float32(weight) * np.matmul(gy, frames.astype(np.float32) @ gx.T)
        return out

    def _raw_spatial_kernel(self) -> np.ndarray:
        """Impulse response of :meth:`_surround_difference`, shape (2R + 1, 2R + 1)."""
        r = int(np.ceil(4 * self.bipolar_surround_sigma))
        delta = np.zeros((2 * r + 1, 2 * r + 1))
        delta[r, r] = 1.0
        return self._surround_difference(delta)

    def spatial_filter(self) -> np.ndarray:
        """The bipolar difference-of-Gaussians kernel.

        Returns
        -------
        ndarray, shape (2R + 1, 2R + 1)
            Unit L2 norm, centred, ``R = ceil(4 * bipolar_surround_sigma)`` pixels.
        """
        k = self._raw_spatial_kernel()
        return k / np.linalg.norm(k)

    def temporal_filter(self, pathway: str = "on", speedup: float = 1.0) -> np.ndarray:
        """A bipolar temporal filter, lag 0 first.

        Parameters
        ----------
        pathway : {"on", "off"}
            The OFF filter is returned without its sign inversion.
        speedup : float
            Scales the lobe times (< 1: a faster filter, as under contrast adaptation).

        Returns
        -------
        ndarray, shape (n_lags,)
            Filter value per lag (frames), unit L2 norm; ``n_lags = filter_length_s * frame_rate_hz``.
        """
        taus = {"on": self.on_tau_s, "off": self.off_tau_s}[pathway]
        n_lags = round(self.filter_length_s * self.frame_rate_hz)
        t = (np.arange(n_lags) + 0.5) / self.frame_rate_hz
        return _biphasic(t, speedup * taus[0], speedup * taus[1], self.rebound)

    def amacrine_filter(self) -> np.ndarray:
        """The amacrine delay and low-pass filter, lag 0 first.

        Returns
        -------
        ndarray, shape (n_lags,)
            Zero for lags below the delay, then an exponential decay over 5 time constants;
            sums to 1.
        """
        delay = round(self.amacrine_delay_s * self.frame_rate_hz)
        tau = self.amacrine_tau_s * self.frame_rate_hz
        h = np.exp(-np.arange(int(np.ceil(5 * tau))) / tau)
        return np.concatenate([np.zeros(delay), h / h.sum()])

    def _pathways(self, stimulus: np.ndarray, chunk_frames: int = 4096) -> tuple[np.ndarray, ...]:
        """Unweighted pooled ON bipolar, OFF bipolar and amacrine signals (and the resonant terminals when on).

        Each (n_frames, n_cells).
        """
        n_frames = stimulus.shape[0]
        k_on = self.temporal_filter("on").astype(np.float32)[:, None]
        k_off = self.temporal_filter("off").astype(np.float32)[:, None]
        dog_scale = np.float32(1.0 / np.linalg.norm(self._raw_spatial_kernel()))
        g_am = self.amacrine_filter()
        n_lags, extra = len(k_on), len(g_am) - 1
        memory = 0 if self.adaptation is None else len(self.adaptation.kernel(self.frame_rate_hz)) - 1
        if self.adaptation is not None:
            k_on_fast = self.temporal_filter("on", self.adaptation.speedup).astype(np.float32)[:, None]
            k_off_fast = self.temporal_filter("off", self.adaptation.speedup).astype(np.float32)[:, None]
        if self.resonance is not None:
            k_res, k_inh = (k.astype(np.float32) for k in self.resonance.filters(k_off[:, 0], self.frame_rate_hz))
        w_gc = _gaussian_weights(self.size, self.position_y, self.position_x, self.rf_sigma)
        w_am = _gaussian_weights(self.size, self.position_y, self.position_x, self.amacrine_sigma)
        w_gc, w_am = w_gc.astype(np.float32), (0.5 * w_am).astype(np.float32)
        # row i of the pooled signals is stimulus frame i - extra (grey before frame 0)
        n_rows = n_frames + extra
        pooled = np.empty((3 if self.resonance is None else 4, n_rows, self.n_cells))
        for start in range(0, n_rows, chunk_frames):
            stop = min(start + chunk_frames, n_rows)
            first = start - extra - (n_lags - 1) - memory
            seg = np.zeros((stop - start + n_lags - 1 + memory, *self.size), dtype=np.float32)
            seg[max(0, -first) :] = stimulus[max(0, first) : stop - extra]
            spatial = (self._surround_difference(seg) * dog_scale).reshape(len(seg), -1)
            u_on = signal.fftconvolve(spatial, k_on, mode="valid", axes=0)
            u_off = -signal.fftconvolve(spatial, k_off, mode="valid", axes=0)
            if self.adaptation is not None:
                fps = self.frame_rate_hz
                u_on = self.adaptation.apply(u_on, signal.fftconvolve(spatial, k_on_fast, mode="valid", axes=0), fps)
                u_off = self.adaptation.apply(
                    u_off, -signal.fftconvolve(spatial, k_off_fast, mode="valid", axes=0), fps
                )
            b_on = _softplus(u_on - self.bipolar_threshold, self.bipolar_beta)
            b_off = _softplus(u_off - self.bipolar_threshold, self.bipolar_beta)
            pooled[0, start:stop] = b_on @ w_gc
            pooled[1, start:stop] = b_off @ w_gc
            pooled[2, start:stop] = (b_on + b_off) @ w_am
            if self.resonance is not None:
                pooled[3, start:stop] = self._resonant_terminals(spatial[memory:], k_res, k_inh) @ w_gc
        amacrine = signal.fftconvolve(pooled[2], g_am[:, None], mode="valid", axes=0)
        return (pooled[0, extra:], pooled[1, extra:], amacrine, *pooled[3:, extra:])

    def _resonant_terminals(self, spatial: np.ndarray, k_res: np.ndarray, k_inh: np.ndarray) -> np.ndarray:
        """Summed rectified output of every pixel's resonant terminals, (n_frames, n_pixels).

        ``spatial`` is (n_frames + n_lags - 1, n_pixels); ``k_res`` (n_lags, n_periods), ``k_inh`` (n_lags,).
        """
        inhibition = np.maximum(-signal.fftconvolve(spatial, k_inh[:, None], mode="valid", axes=0), 0.0)
        drive = inhibition + np.float32(self.resonance.threshold)
        out = np.zeros(drive.shape, dtype=np.float32)
        for j in range(k_res.shape[1]):  # dark flashes drive the terminals: OFF polarity
            u = -signal.fftconvolve(spatial, k_res[:, j : j + 1], mode="valid", axes=0)
            out += _softplus(u - drive, self.bipolar_beta)
        return out

    def respond(self, stimulus: np.ndarray | xr.DataArray, chunk_frames: int = 4096) -> xr.Dataset:
        """Noise-free responses of every ganglion cell to a stimulus.

        Parameters
        ----------
        stimulus : ndarray or xarray.DataArray, shape (n_frames, ny, nx)
            Contrast movie at ``frame_rate_hz``, frame size equal to ``size``. Frames before
            the first are taken as mean grey.
        chunk_frames : int
            Frames processed at once in the bipolar stage (bounds memory use).

        Returns
        -------
        xarray.Dataset
            Dims ``frame`` and ``cell``. Per frame and cell: ``on_drive`` and ``off_drive``
            (weighted ON/OFF bipolar input), ``amacrine`` (weighted inhibition, >= 0),
            ``generator`` (``on_drive + off_drive - amacrine``, plus ``resonant``, the weighted
            resonant terminals, when ``OmittedStimulusResonance`` is on) and ``rate`` (Hz). Per cell:
            ``cell_type``, ``position_y``, ``position_x``, ``rf_sigma`` (pixels), ``w_on``,
            ``w_off``, ``w_amacrine``, ``threshold``, ``rate_scale_hz``.
        """
        stim = np.asarray(stimulus, dtype=np.float32)
        if stim.ndim != 3 or stim.shape[1:] != tuple(self.size):
            raise ValueError(
                f"stimulus must have shape (frame, {self.size[0]}, {self.size[1]}) to match the "
                f"circuit; got {stim.shape}."
            )
        pooled_on, pooled_off, pooled_am, *pooled_res = self._pathways(stim, chunk_frames)
        on_drive = self.w_on * pooled_on
        off_drive = self.w_off * pooled_off
        amacrine = self.w_amacrine * pooled_am
        generator = on_drive + off_drive - amacrine
        fc = ("frame", "cell")
        resonant = {}
        if pooled_res:
            resonant = {"resonant": (fc, self.w_resonant * pooled_res[0])}
            generator = generator + resonant["resonant"][1]
        rate = self.rate_scale_hz * _softplus(generator - self.threshold)
        return xr.Dataset(
            data_vars={
                "on_drive": (fc, on_drive),
                "off_drive": (fc, off_drive),
                "amacrine": (fc, amacrine),
                **resonant,
                "generator": (fc, generator),
                "rate": (fc, rate, {"units": "Hz"}),
                **self._cell_table(),
            },
            coords={"frame": np.arange(len(stim)), "cell": np.arange(self.n_cells)},
            attrs=self.attrs(),
        )

    def _cell_table(self) -> dict[str, tuple[str, np.ndarray]]:
        """Per-cell parameters as ``(dim, values)`` pairs for an xarray Dataset."""
        names = (
            "cell_type",
            "position_y",
            "position_x",
            "rf_sigma",
            "w_on",
            "w_off",
            "w_amacrine",
            "threshold",
            "rate_scale_hz",
        )
        if self.w_resonant is not None:
            names = (*names, "w_resonant")
        return {name: ("cell", np.asarray(getattr(self, name))) for name in names}

    def attrs(self) -> dict[str, float | int | list[float]]:
        """The circuit-wide parameters as NetCDF-friendly attributes named ``circuit_<field>``.

        A mechanism that is switched on adds ``circuit_<mechanism>_<parameter>`` entries.
        """
        out: dict[str, float | int | list[float]] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "seed":
                out["circuit_seed"] = -1 if value is None else int(value)
            elif isinstance(value, float | tuple):
                out[f"circuit_{f.name}"] = list(value) if isinstance(value, tuple) else value
            elif isinstance(value, OmittedStimulusResonance | ContrastAdaptation):  # only when switched on
                for g in dataclasses.fields(value):
                    v = getattr(value, g.name)
                    if isinstance(v, tuple):
                        v = ",".join(v) if all(isinstance(x, str) for x in v) else list(v)
                    out[f"circuit_{f.name}_{g.name}"] = v
        return out

"""Hypothesis strategies for every SmartPower API model type (valid documents only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from hardware_bridge.api import (
    AccessTechnology,
    Alarm,
    Batch,
    BatchAck,
    BatchEvent,
    BatchReading,
    Claim,
    ClaimRequest,
    Command,
    CommandOutcome,
    CommandRequest,
    CommandStatus,
    CommandType,
    DeviceDescription,
    DeviceProtocol,
    Enrolment,
    EnrolmentAck,
    ErrorBody,
    Gap,
    IoDescription,
    IoKind,
    ModemReport,
    OutcomeStatus,
    PendingCommands,
    PointDescription,
    PointKind,
    Reading,
    ReadingsPage,
    Registration,
    TerminalDescription,
)
from hardware_bridge.models import PollGroup

keys = st.from_regex(r"[a-z0-9][a-z0-9_]{0,15}", fullmatch=True)
names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,15}", fullmatch=True)
texts = st.text(max_size=20)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=3)), timezone(timedelta(hours=-5, minutes=-30))]
)
times = st.builds(
    lambda ms, zone: (datetime(2020, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)).astimezone(
        zone
    ),
    st.integers(min_value=0, max_value=20 * 365 * 86_400_000),
    zones,
)
wire_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
)
units = st.one_of(st.none(), st.sampled_from(["V", "A", "kWh", "W", "%", "var"]))

error_bodies = st.builds(ErrorBody, code=keys, message=texts, field=st.one_of(st.none(), texts))
claim_requests = st.builds(ClaimRequest, modem_no=names, auth_code=st.text(min_size=1, max_size=64))
claims = st.builds(
    Claim, token=st.text(min_size=1, max_size=64), token_id=names, modem_no=names, issued=times
)
point_descriptions = st.builds(
    PointDescription,
    key=keys,
    name=st.text(min_size=1, max_size=30),
    unit=units,
    device_class=st.one_of(st.none(), keys),
    state_class=st.one_of(st.none(), st.sampled_from(["measurement", "total_increasing"])),
    precision=st.one_of(st.none(), st.integers(0, 12)),
    kind=st.sampled_from(PointKind),
    group=st.sampled_from(PollGroup),
    enabled_by_default=st.booleans(),
    diagnostic=st.booleans(),
)
io_descriptions = st.builds(
    IoDescription, key=keys, name=st.text(min_size=1, max_size=30), kind=st.sampled_from(IoKind)
)


@st.composite
def device_descriptions(draw: st.DrawFn) -> DeviceDescription:
    points = draw(st.lists(point_descriptions, max_size=4, unique_by=lambda p: p.key))
    taken = {p.key for p in points}
    io = draw(
        st.lists(
            io_descriptions.filter(lambda i: i.key not in taken),
            max_size=3,
            unique_by=lambda i: i.key,
        )
    )
    return DeviceDescription(
        key=draw(names),
        name=draw(st.text(min_size=1, max_size=30)),
        protocol=draw(st.sampled_from(DeviceProtocol)),
        profile=draw(st.one_of(st.none(), keys)),
        address=draw(st.one_of(st.none(), st.integers(0, 247))),
        manufacturer=draw(st.one_of(st.none(), texts)),
        model=draw(st.one_of(st.none(), texts)),
        serial_number=draw(st.one_of(st.none(), texts)),
        sw_version=draw(st.one_of(st.none(), texts)),
        points=tuple(points),
        io=tuple(io),
    )


@st.composite
def terminal_descriptions(draw: st.DrawFn) -> TerminalDescription:
    devices = draw(st.lists(device_descriptions(), max_size=3, unique_by=lambda d: d.key))
    return TerminalDescription(
        modem_no=draw(names),
        name=draw(st.text(min_size=1, max_size=30)),
        send_period=draw(st.integers(1, 14400)),
        devices=tuple(devices),
        firmware=draw(st.one_of(st.none(), texts)),
        updated=draw(st.one_of(st.none(), times)),
    )


readings = st.builds(Reading, device=names, key=keys, value=wire_values, unit=units, time=times)
readings_pages = st.builds(
    ReadingsPage,
    readings=st.lists(readings, max_size=5).map(tuple),
    next=st.one_of(st.none(), st.text(max_size=40)),
)
command_requests = st.builds(
    CommandRequest, device=names, key=keys, state=st.booleans(), type=st.just(CommandType.RELAY_SET)
)
commands = st.builds(
    Command,
    id=names,
    type=st.just(CommandType.RELAY_SET),
    device=names,
    key=keys,
    state=st.booleans(),
    status=st.sampled_from(CommandStatus),
    created=times,
    updated=times,
    expires=st.one_of(st.none(), times),
    confirmed_state=st.one_of(st.none(), st.booleans()),
    message=st.one_of(st.none(), texts),
)
outcomes = st.builds(
    CommandOutcome,
    command_id=names,
    status=st.sampled_from(OutcomeStatus),
    time=times,
    confirmed_state=st.one_of(st.none(), st.booleans()),
    message=st.one_of(st.none(), texts),
)
alarms = st.builds(
    Alarm,
    kind=keys,
    time=times,
    device=st.one_of(st.none(), names),
    key=st.one_of(st.none(), keys),
    value=wire_values,
    message=st.one_of(st.none(), texts),
)
modem_reports = st.builds(
    ModemReport,
    registration=st.sampled_from(Registration),
    time=times,
    access_technology=st.one_of(st.none(), st.sampled_from(AccessTechnology)),
    operator=st.one_of(st.none(), st.text(max_size=20)),
    signal_dbm=st.one_of(st.none(), st.integers(-150, 0)),
    rsrp_dbm=st.one_of(st.none(), st.floats(-150, 0)),
    rsrq_db=st.one_of(st.none(), st.floats(-30, 0)),
)
enrolments = st.builds(
    Enrolment,
    terminal_secret=st.text(min_size=32, max_size=64),
    auth_code=st.text(min_size=1, max_size=64),
    enrolment_key=st.one_of(st.none(), st.text(max_size=20)),
)
enrolment_acks = st.builds(
    EnrolmentAck, modem_no=names, enrolled=times, acknowledged_seq=st.integers(0, 2**40)
)
batch_acks = st.builds(
    BatchAck,
    batch_id=names,
    acknowledged_seq=st.integers(0, 2**40),
    duplicate=st.booleans(),
    commands=st.lists(commands, max_size=2).map(tuple),
)
pending_commands = st.builds(PendingCommands, commands=st.lists(commands, max_size=2).map(tuple))


@st.composite
def batches(draw: st.DrawFn) -> Batch:
    """A batch whose readings look like polls (runs of one device and time), with events and
    gaps interleaved in the sequence, and values of every kind — float32s and scaled
    registers included, so every column form is exercised."""
    seq = first = draw(st.integers(1, 2**40))
    device_keys = draw(st.lists(keys, min_size=1, max_size=4, unique=True))
    value_kind = st.sampled_from(["any", "f32", "scaled", "int"])
    kinds = {k: draw(value_kind) for k in device_keys}

    def value_for(kind: str) -> st.SearchStrategy[object]:
        if kind == "f32":
            return st.floats(width=32, allow_nan=False, allow_infinity=False)
        if kind == "scaled":
            return st.integers(-100_000, 100_000).map(lambda raw: raw * 0.1)
        if kind == "int":
            return st.integers(-(2**40), 2**40)
        return wire_values

    reads: list[BatchReading] = []
    events: list[BatchEvent] = []
    gaps: list[Gap] = []
    time = draw(times)
    for _ in range(draw(st.integers(0, 12))):
        step = draw(st.sampled_from(["poll", "poll", "poll", "event", "gap"]))
        time = time + timedelta(milliseconds=draw(st.integers(0, 20_000)))
        if step == "poll":
            device = draw(st.sampled_from(["meter", "sdm630", "kael"]))
            poll_keys = draw(st.lists(st.sampled_from(device_keys), min_size=1, unique=True))
            for key in poll_keys:
                reads.append(
                    BatchReading(
                        seq=seq,
                        device=device,
                        key=key,
                        value=draw(value_for(kinds[key])),  # type: ignore[arg-type]
                        unit=draw(units),
                        time=time,
                    )
                )
                seq += 1
        elif step == "event":
            alarm = draw(alarms)
            events.append(BatchEvent(seq=seq, alarm=Alarm(**{**_fields(alarm), "time": time})))
            seq += 1
        else:
            size = draw(st.integers(1, 5))
            gaps.append(
                Gap(
                    first_seq=seq,
                    last_seq=seq + size - 1,
                    count=draw(st.integers(1, size)),
                    first_time=draw(st.one_of(st.none(), st.just(time))),
                    last_time=draw(st.one_of(st.none(), st.just(time))),
                )
            )
            seq += size
        seq += draw(st.sampled_from([0, 0, 0, 3]))  # a hole now and then (acked elsewhere)
    return Batch(
        batch_id=draw(names),
        first_seq=first,
        last_seq=max(first, seq - 1),
        created=draw(times),
        readings=tuple(reads),
        events=tuple(events),
        gaps=tuple(gaps),
        outcomes=tuple(draw(st.lists(outcomes, max_size=2))),
        modem=draw(st.one_of(st.none(), modem_reports)),
    )


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}  # type: ignore[attr-defined]


MODEL_STRATEGIES = {
    ErrorBody: error_bodies,
    ClaimRequest: claim_requests,
    Claim: claims,
    PointDescription: point_descriptions,
    IoDescription: io_descriptions,
    DeviceDescription: device_descriptions(),
    TerminalDescription: terminal_descriptions(),
    Reading: readings,
    ReadingsPage: readings_pages,
    CommandRequest: command_requests,
    Command: commands,
    CommandOutcome: outcomes,
    Alarm: alarms,
    ModemReport: modem_reports,
    Enrolment: enrolments,
    EnrolmentAck: enrolment_acks,
    BatchAck: batch_acks,
    PendingCommands: pending_commands,
    Batch: batches(),
}

"""The validated `config/hotline.yaml`: numbers, languages, Asterisk, web, agents,
integrations, schedules and the demo CRM."""

from __future__ import annotations

from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    ValidationError,
    field_validator,
    model_validator,
)

from hotline.acd.settings import AgentRouting, QueueSettings, check_routing, routing_warnings
from hotline.callbacks.settings import CallbackConfig, check_callbacks
from hotline.chat_settings import ChatConfig
from hotline.cluster.edge import EdgeConfig
from hotline.cluster.settings import RoutingConfig
from hotline.cluster.web_tier import WebTierConfig
from hotline.flows.hours import Schedule
from hotline.overload import OverloadSettings
from hotline.reports.settings import ReportSettings
from hotline.speech.settings import SpeechConfig
from hotline.staffing.settings import StaffingSettings
from hotline.yamlsource import SourceError, load_yaml, validation_problems, word_for_bool

Port = Annotated[int, Field(ge=1, le=65535)]
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AsteriskConfig(Section):
    """How Hotline reaches Asterisk. Managed: Hotline renders its config and runs it."""

    managed: bool = True
    #: Managed instances live side by side (make run's, each test session's) by name.
    instance: Name = "main"
    sip_bind: str = "127.0.0.1"
    sip_port: Port = 5060
    http_bind: str = "127.0.0.1"
    http_port: Port = 8088
    ami_bind: str = "127.0.0.1"
    ami_port: Port = 5038
    rtp_start: Port = 10000
    rtp_end: Port = 10999
    #: Asterisk's strict RTP (rtp.conf `strictrtp`): a call's media source is learned
    #: from its first packets in sequence and, with "yes", spaced in time; "seqno"
    #: learns from the sequence alone (a source whose first packets come in a burst);
    #: "no" accepts any source.
    strict_rtp: Literal["yes", "seqno", "no"] = "yes"
    ari_app: Name = "hotline"
    #: For an existing (unmanaged) Asterisk: where ARI and AMI are, and the credentials
    #: you configured there. Managed instances generate their own.
    ari_url: str | None = None
    ari_user: str | None = None
    ari_password: str | None = None
    ami_host: str = "127.0.0.1"
    ami_user: str | None = None
    ami_secret: str | None = None
    #: The folder (as Asterisk sees it) holding Hotline's rendered prompts.
    sounds_dir: str | None = None
    #: An unmanaged Asterisk's recording folder (ARI's spool/recording), as both
    #: Asterisk and this machine see it. Managed instances use their own spool.
    recordings_dir: str = "/var/spool/asterisk/recording"
    #: Hotline's FastAGI server: `hotline run` listens here, and the dialplan's
    #: AGI(agi://…) lines for `agi_numbers` call it. It lives in this section because
    #: the rendered dialplan needs it.
    agi_bind: str = "127.0.0.1"
    agi_port: Port = 4573
    #: Dialed number -> flow run over FastAGI from the classic dialplan, for
    #: dialplans that keep control of the call (`numbers` go to Stasis instead).
    agi_numbers: dict[str, Name] = {}
    #: Phones over SIP/TLS with SRTP (SDES) media, on `sip_tls_port`. UDP stays for
    #: phones on loopback (and callers); with TLS on, agents' SIP phones must use TLS.
    sip_tls: bool = False
    sip_tls_port: Port = 5061
    #: The operator's certificate and key (PEM) for SIP/TLS; without them Hotline makes
    #: a self-signed one at first start (`.hotline/tls/`).
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: Each agent may also register the desk's browser phone (WebRTC, DTLS-SRTP).
    browser_phone: bool = True

    @field_validator("strict_rtp", mode="before")
    @classmethod
    def _strict_rtp(cls, value: object) -> object:
        return word_for_bool(value, "yes", "no")

    @field_validator("agi_numbers")
    @classmethod
    def _agi_numbers(cls, numbers: dict[str, str]) -> dict[str, str]:
        return _dialable(numbers)

    @field_validator("sip_bind", "http_bind", "ami_bind", "ami_host", "agi_bind")
    @classmethod
    def _ip(cls, value: str) -> str:
        ip_address(value)
        return value

    @model_validator(mode="after")
    def _ranges(self) -> AsteriskConfig:
        if self.rtp_end <= self.rtp_start:
            raise ValueError("rtp_end must be above rtp_start")
        if not self.managed and not (self.ari_url and self.ari_user and self.ari_password):
            raise ValueError("an unmanaged Asterisk needs ari_url, ari_user and ari_password")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: give both or neither")
        if self.sip_tls and self.sip_tls_port == self.sip_port:
            raise ValueError("sip_tls_port must differ from sip_port")
        return self


class RequestLimit(Section):
    """`rate` requests a second on average, in bursts of up to `burst`."""

    rate: float = Field(gt=0, le=10_000)
    burst: int = Field(ge=1, le=100_000)

    @model_validator(mode="after")
    def _burst(self) -> RequestLimit:
        if self.burst < self.rate:
            raise ValueError("burst must be at least rate (one second's requests)")
        return self


class RateLimitConfig(Section):
    """The web's request rate limit (hotline/web/ratelimit.py): per client address
    before anything else, and per signed-in user (or the API token). The defaults are
    far above what a desk, wallboard or reports page sends (their live data comes over
    one WebSocket each); a page load is a burst of a few requests."""

    enabled: bool = True
    per_address: RequestLimit = RequestLimit(rate=50, burst=500)
    per_user: RequestLimit = RequestLimit(rate=20, burst=200)
    #: Addresses with no per-address limit (their users still have theirs): the host
    #: itself by default — the metrics scraper, a local reverse proxy (limit in the
    #: proxy), benchmarks. Set [] to limit loopback too.
    unlimited_addresses: list[IPvAnyNetwork] = [
        ip_network("127.0.0.0/8"),
        ip_network("::1/128"),
    ]
    #: Path prefixes never limited: static files (cheap, cached, a page load fetches
    #: several), /metrics (the scraper, every few seconds), and the messenger webhooks
    #: (every user's updates come from the messenger's few servers; each is signed and
    #: has its own per-user limit, chat.rate).
    exempt: list[Annotated[str, Field(pattern=r"^/[^\s]*$")]] = [
        "/static/",
        "/metrics",
        "/chat/telegram",
        "/chat/webhook",
    ]


class WebConfig(Section):
    bind: str = "127.0.0.1"
    port: Port = 8080
    #: A login session ends after this long without a request, and at this age.
    session_idle_minutes: int = Field(60, ge=1, le=24 * 60)
    session_max_hours: int = Field(12, ge=1, le=24 * 7)
    #: Send the session cookie over HTTPS only (behind a TLS-terminating proxy; on
    #: by itself with `tls`).
    secure_cookies: bool = False
    #: Serve the web (desk, wallboard, API, the browser phone's relay) over HTTPS and
    #: WSS on `port`: browsers give the microphone only to secure pages, so agents on
    #: other machines need it for the browser phone.
    tls: bool = False
    #: The operator's certificate (PEM, with its chain) and key for HTTPS; without them
    #: Hotline makes a self-signed one at first start (`.hotline/tls/web.crt`) for
    #: 127.0.0.1, localhost, the host name, `bind` and `tls_names`.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    #: More names or addresses agents reach the web by, for the generated certificate.
    tls_names: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.:*-]+$")]] = []
    #: Pages (scheme://host[:port]) allowed to embed the chat widget.
    allowed_origins: list[Annotated[str, Field(pattern=r"^https?://[^/\s]+$")]] = []
    rate_limit: RateLimitConfig = RateLimitConfig()

    @field_validator("bind")
    @classmethod
    def _ip(cls, value: str) -> str:
        ip_address(value)
        return value

    @model_validator(mode="after")
    def _tls(self) -> WebConfig:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: give both or neither")
        if not self.tls and (self.tls_cert_file is not None or self.tls_names):
            raise ValueError("tls_cert_file, tls_key_file and tls_names need tls: true")
        if self.tls_cert_file is not None and self.tls_names:
            raise ValueError("tls_names are for the generated certificate: not with tls_cert_file")
        return self


class IntegrationConfig(Section):
    """An HTTP service flows call by name (`http: {integration: crm, path: …}`)."""

    url: Annotated[
        str, Field(pattern=r"^https?://[^\s/?#]+[^\s]*$", examples=["http://crm:8080/api"])
    ]
    #: The most any http node may wait for this service: a node asking longer is cut
    #: to this, so one slow integration cannot hold every caller for 30 s.
    timeout: float = Field(10.0, gt=0, le=30)


class DemoCrmConfig(Section):
    """The demo CRM `hotline run` starts on 127.0.0.1 (controller/crm.py)."""

    enabled: bool = False
    port: Port = 8081


class AgentConfig(AgentRouting):
    """An agent: who they are, their softphone, and their routing (skills, queues,
    capacity per channel: see hotline/acd/settings.py)."""

    id: Name
    name: str = Field(min_length=1, max_length=80)
    #: The PJSIP endpoint (and SIP user name) of the agent's softphone.
    endpoint: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
    #: A fixed contact (sip:host:port) instead of registration, for desk phones and tests.
    contact: str | None = Field(default=None, pattern=r"^sips?:[^\s\"<>]+$")
    #: supervisor: a team lead who takes contacts too, with a supervisor's rights in the
    #: web (monitoring on their own phone, taking chats over to their desk).
    role: Literal["agent", "supervisor"] = "agent"


class UserConfig(Section):
    """Someone who logs in to the web but is not an agent: a supervisor or an admin.
    Agents log in as their agent id. Passwords are set with `hotline users passwd`."""

    id: Name
    name: str = Field(min_length=1, max_length=80)
    role: Literal["supervisor", "admin"]
    #: Their own SIP phone's PJSIP endpoint (and user name; the password is generated
    #: like an agent's): the phone Hotline rings to listen, whisper or barge.
    endpoint: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")] | None = None
    #: A fixed contact (sip:host:port) instead of registration, as for agents.
    contact: str | None = Field(default=None, pattern=r"^sips?:[^\s\"<>]+$")


class MonitoringConfig(Section):
    """Supervisors listening, whispering and barging (ari_app/monitoring.py)."""

    #: What the agent is told when a supervisor starts: nothing, a notice on the desk,
    #: a beep on the call (the caller hears nothing), or both.
    tell_agent: Literal["no", "desk", "beep", "desk_and_beep"] = "no"
    #: How long the supervisor's phone rings before the monitoring is given up.
    ring_seconds: float = Field(30.0, gt=0, le=120)


class HotlineConfig(Section):
    numbers: dict[str, Name] = Field(min_length=1)
    languages: list[Annotated[str, Field(pattern=r"^[a-z]{2}$")]] = Field(
        default=["en"], min_length=1
    )
    default_language: str = "en"
    asterisk: AsteriskConfig = AsteriskConfig()
    web: WebConfig = WebConfig()
    database_url: str | None = None
    flows_dir: str = "ivr_flows"
    sounds_dir: str = "sounds"
    #: The knowledge base's article files (knowledge/<id>.yaml), read in at start.
    knowledge_dir: str = "knowledge"
    #: Evaluation forms (hotline/quality/forms.py), one YAML file each, read in at start.
    evaluations_dir: str = "config/evaluations"
    agents: list[AgentConfig] = []
    users: list[UserConfig] = []
    queues: dict[Name, QueueSettings] = {}
    #: Pause reasons an agent picks by feature code (*23N) or names in the API.
    pause_reasons: dict[Annotated[str, Field(pattern=r"^[0-9]$")], Name] = {
        "1": "break",
        "2": "lunch",
        "3": "training",
        "4": "meeting",
    }
    integrations: dict[Name, IntegrationConfig] = {}
    schedules: dict[Name, Schedule] = {}
    demo_crm: DemoCrmConfig = DemoCrmConfig()
    #: Spoken answers and transcripts (hotline/speech/settings.py).
    speech: SpeechConfig = SpeechConfig()
    #: Web chat, messengers and the agent desk (hotline/chat_settings.py).
    chat: ChatConfig = ChatConfig()
    #: Callbacks: how numbers are checked and dialed (per-queue parts under queues).
    callbacks: CallbackConfig = CallbackConfig()
    #: Reports and the wallboard: time zone, service-level thresholds, windows
    #: (hotline/reports/settings.py, formulas in docs/metrics.md).
    reports: ReportSettings = ReportSettings()
    #: Supervisors monitoring live calls.
    monitoring: MonitoringConfig = MonitoringConfig()
    #: The staffing forecast: shrinkage and weeks of history (hotline/staffing/settings.py).
    staffing: StaffingSettings = StaffingSettings()
    #: New calls turned away past what the box can carry (hotline/overload.py).
    overload: OverloadSettings = OverloadSettings()
    #: Where routing runs: here (local) or at a routing leader over NATS (remote, a call
    #: worker; hotline/cluster/settings.py).
    routing: RoutingConfig = RoutingConfig()
    #: The SIP edge (Kamailio) in front of several Asterisk nodes: `hotline edge run`
    #: runs it; on a node it sends agents' calls through it (hotline/cluster/edge.py).
    edge: EdgeConfig | None = None
    #: Several web processes (`hotline web`) behind one address: `hotline haproxy run`
    #: runs haproxy in front of them (hotline/cluster/web_tier.py).
    web_tier: WebTierConfig | None = None

    @field_validator("numbers")
    @classmethod
    def _numbers(cls, numbers: dict[str, str]) -> dict[str, str]:
        return _dialable(numbers)

    @model_validator(mode="after")
    def _consistent(self) -> HotlineConfig:
        if self.default_language not in self.languages:
            raise ValueError(f"default_language {self.default_language!r} is not in languages")
        for field, values in (
            ("agents.id", [a.id for a in self.agents]),
            ("agents.endpoint", [a.endpoint for a in self.agents]),
            ("agents.endpoint and users.endpoint", self.phone_endpoints),
            ("agents.id and users.id", [a.id for a in self.agents] + [u.id for u in self.users]),
        ):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"{field} must be unique; repeated: {', '.join(dupes)}")
        routing = check_routing(self.queues, self.agents)
        if routing:
            raise ValueError("routing: " + "; ".join(routing))
        not_queues = sorted(set(self.reports.queues) - set(self.queues))
        if not_queues:
            raise ValueError(f"reports.queues: no queue named {', '.join(not_queues)}")
        unknown = self.speech.unknown_queues(set(self.queues))
        if unknown:
            raise ValueError(f"speech.keywords: no queue named {', '.join(unknown)}")
        unknown = self.speech.unknown_live_queues(set(self.queues))
        if unknown:
            raise ValueError(f"speech.live_transcripts: no queue named {', '.join(unknown)}")
        callbacks = check_callbacks(
            self.queues,
            self.schedules,
            callbacks={name: q.callback for name, q in self.queues.items()},
            leave_keys={name: q.leave_key for name, q in self.queues.items()},
        )
        if callbacks:
            raise ValueError("callbacks: " + "; ".join(callbacks))
        remote = self.routing.problem(self.database_url)
        if remote:
            raise ValueError(remote)
        both = sorted(set(self.numbers) & set(self.asterisk.agi_numbers))
        if both:
            raise ValueError(
                f"number(s) {', '.join(both)} are in both numbers and asterisk.agi_numbers: "
                "a number goes to Stasis or to FastAGI, not both"
            )
        return self

    def routing_warnings(self) -> list[str]:
        """Worth a warning at start: queues no agent serves, steps no agent meets."""
        return routing_warnings(self.queues, self.agents)

    @property
    def phone_endpoints(self) -> list[str]:
        """Every PJSIP endpoint of a phone: agents', then supervisors' and admins'."""
        return [a.endpoint for a in self.agents] + [u.endpoint for u in self.users if u.endpoint]

    @property
    def flow_numbers(self) -> dict[str, str]:
        """Every dialed number that runs a flow, over ARI or FastAGI."""
        return {**self.numbers, **self.asterisk.agi_numbers}


def _dialable(numbers: dict[str, str]) -> dict[str, str]:
    for number in numbers:
        if not number or not all(c.isdigit() or c in "+*#" for c in number):
            raise ValueError(f"number {number!r} must be digits (with + * #)")
    return numbers


def load_config(path: Path) -> HotlineConfig:
    """Load and validate a config file; a SourceError names file, line and field."""
    data, positions = load_yaml(path)
    if not isinstance(data, dict):
        raise SourceError.single(path, 1, 1, "", "expected a mapping of settings")
    try:
        return HotlineConfig.model_validate(data)
    except ValidationError as error:
        raise SourceError(validation_problems(error, path, positions)) from None

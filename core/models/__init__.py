"""All tables, importable from one place: `from core.models import Brand, MetricValue`."""

from core.models.alerts import Alert, AlertRead, AlertSent, AlertSnooze
from core.models.api import ApiToken, IdempotencyRecord, RefreshToken
from core.models.base import Base, utcnow
from core.models.marketing import Channel, ControlValue, Granularity, Outcome, ResponseCurve, Spend, join_channel
from core.models.metrics import DCScore, Direction, FrameworkVersion, Metric, MetricValue, Platform, Section
from core.models.modeling import FitVersion, LiftTest
from core.models.operations import AuditArchive, DataVersion, DataVersionPending, RetentionPolicy
from core.models.portfolio import Brand, BrandRole, Normalization, Organization, Project, ProjectBrand
from core.models.security import AuditEvent, Role, RoleGrant, User, UserSession
from core.models.security_alerts import (
    SecurityAlert,
    SecurityAlertDelivery,
    SecurityAlertState,
    SecurityKnownNetwork,
)
from core.models.sso import OrganizationSSO, SSOIdentity, SSOUsedNonce
from core.models.subscriptions import ReportSubscription, SubscriptionDelivery
from core.models.work import ImportBatch, ImportUpload, Job, Scenario

__all__ = [
    "Alert", "AlertRead", "AlertSent", "AlertSnooze",
    "ApiToken", "AuditArchive", "AuditEvent", "Base", "Brand", "BrandRole",
    "Channel", "ControlValue", "DCScore",
    "DataVersion", "DataVersionPending", "Direction", "FitVersion", "FrameworkVersion",
    "Granularity", "IdempotencyRecord", "ImportBatch", "ImportUpload", "Job", "LiftTest", "Metric",
    "MetricValue",
    "Normalization", "Organization", "OrganizationSSO", "Outcome", "Platform", "Project", "ProjectBrand",
    "RefreshToken", "ReportSubscription", "ResponseCurve",
    "RetentionPolicy", "Role", "RoleGrant", "SSOIdentity", "SSOUsedNonce",
    "Scenario", "Section", "SecurityAlert", "SecurityAlertDelivery", "SecurityAlertState", "SecurityKnownNetwork",
    "Spend", "SubscriptionDelivery", "User", "UserSession", "join_channel", "utcnow",
]

"""The web-free security core: passwords, MFA, roles and grants, the authorizer, the scope
filter, the audit trail and the accounts service. Pages, the API and jobs call these; nothing
here imports Flask or Dash.
"""

from core.security.accounts import Accounts, AuthResult, InvalidCredentials, NewUser
from core.security.audit import Action, VerifyResult, record, verify_chain
from core.security.authorizer import Forbidden, authorize, can, permissions_for, scope_filter, visible
from core.security.crypto import SecretBox
from core.security.demo_users import DemoCredential, ensure_demo_users
from core.security.grants import create_custom_role, ensure_builtin_roles, grant_role, revoke_grant
from core.security.identity import IdentityRejected, normalize_display_name, normalize_email
from core.security.passwords import PasswordPolicy, PasswordRejected, check_password, hash_password, verify_password
from core.security.permissions import BUILTIN_ROLES, Permission
from core.security.principal import Principal, load_principal
from core.security.role_names import RoleNameError, role_label
from core.security.settings import SecuritySettings

__all__ = [
    "BUILTIN_ROLES", "Accounts", "Action", "AuthResult", "DemoCredential", "Forbidden", "IdentityRejected",
    "InvalidCredentials", "NewUser", "PasswordPolicy", "PasswordRejected", "Permission", "Principal",
    "RoleNameError", "SecretBox", "SecuritySettings", "VerifyResult", "authorize", "can", "check_password",
    "create_custom_role", "ensure_builtin_roles", "ensure_demo_users", "grant_role", "hash_password",
    "load_principal", "normalize_display_name", "normalize_email", "permissions_for", "record", "revoke_grant",
    "role_label", "scope_filter", "verify_chain", "verify_password", "visible",
]

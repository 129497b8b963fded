"""Built-in Microsoft Entra role templates the simulator activates.

Template ids and descriptions are Entra's published values (``Microsoft Entra
built-in roles`` reference); responders match roles by ``roleTemplateId``, never
by display name, so these must be the real ids.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "GLOBAL_ADMINISTRATOR",
    "GLOBAL_READER",
    "HELPDESK_ADMINISTRATOR",
    "PRIVILEGED_AUTHENTICATION_ADMINISTRATOR",
    "PRIVILEGED_ROLE_ADMINISTRATOR",
    "REPORTS_READER",
    "ROLE_TEMPLATES",
    "SECURITY_ADMINISTRATOR",
    "SECURITY_OPERATOR",
    "SECURITY_READER",
    "USER_ADMINISTRATOR",
    "RoleTemplate",
]


@dataclass(frozen=True)
class RoleTemplate:
    template_id: str
    display_name: str
    description: str


GLOBAL_ADMINISTRATOR = RoleTemplate(
    "62e90394-69f5-4237-9190-012177145e10", "Global Administrator",
    "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.")
PRIVILEGED_ROLE_ADMINISTRATOR = RoleTemplate(
    "e8611ab8-c189-46e8-94e1-60213ab1f814", "Privileged Role Administrator",
    "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.")
PRIVILEGED_AUTHENTICATION_ADMINISTRATOR = RoleTemplate(
    "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "Privileged Authentication Administrator",
    "Can access to view, set and reset authentication method information for any user (admin or non-admin).")
SECURITY_ADMINISTRATOR = RoleTemplate(
    "194ae4cb-b126-40b2-bd5b-6091b380977d", "Security Administrator",
    "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.")
SECURITY_OPERATOR = RoleTemplate(
    "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f", "Security Operator", "Creates and manages security events.")
SECURITY_READER = RoleTemplate(
    "5d6b6bb7-de71-4623-b4af-96380a352509", "Security Reader",
    "Can read security information and reports in Microsoft Entra ID and Office 365.")
GLOBAL_READER = RoleTemplate(
    "f2ef992c-3afb-46b9-b7cf-a126ee74c451", "Global Reader",
    "Can read everything that a Global Administrator can, but not update anything.")
USER_ADMINISTRATOR = RoleTemplate(
    "fe930be7-5e62-47db-91af-98c3a49a38b1", "User Administrator",
    "Can manage all aspects of users and groups, including resetting passwords for limited admins.")
HELPDESK_ADMINISTRATOR = RoleTemplate(
    "729827e3-9c14-49f7-bb1b-9608f156bbb8", "Helpdesk Administrator",
    "Can reset passwords for non-administrators and Helpdesk Administrators.")
REPORTS_READER = RoleTemplate(
    "4a5d8f65-41da-4de4-8968-e035b65339cf", "Reports Reader", "Can read sign-in and audit reports.")

ROLE_TEMPLATES: tuple[RoleTemplate, ...] = (
    GLOBAL_ADMINISTRATOR, PRIVILEGED_ROLE_ADMINISTRATOR, PRIVILEGED_AUTHENTICATION_ADMINISTRATOR,
    SECURITY_ADMINISTRATOR, SECURITY_OPERATOR, SECURITY_READER, GLOBAL_READER, USER_ADMINISTRATOR,
    HELPDESK_ADMINISTRATOR, REPORTS_READER,
)

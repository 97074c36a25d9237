"""Who hears about a reminder or a rotation, and what each audience reads.

- **Members** (the unit's contacts and the organization's owners, less those who opted out:
  services.recipients_for) get the portal's wording, with the deep link into the portal.
- **Partner contacts** of the credential and of the connections using it (partners) get what
  they must do and by when, in their time zone when known and always in UTC, with no link
  into the portal and never a secret.

One message per recipient, each with its own opt-out link (notifications.optout), a plain-text
and an HTML part, the sender's name (KEYTURN_EMAIL_FROM_NAME), a reply-to and
`List-Unsubscribe` with one-click (RFC 8058)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import formataddr, parseaddr
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.utils import timezone

from credentials.models import Credential, VersionState
from credentials.templatetags.keyturn import format_dual
from partners.models import PartnerContact

from .models import Milestone, Notification
from .optout import member_opt_out_url, partner_opt_out_url

PARTNER_TEMPLATE = "partner_notice"


def render(template_name: str, context: dict[str, object]) -> str:
    """Emails say their times in UTC, whichever zone the request that sends one runs in (a
    rotation done in the portal sends its email from the user's request). Templates come
    compiled from the cached loader."""
    with timezone.override(UTC):
        return render_to_string(template_name, context)


def email_parts(name: str, context: dict[str, object]) -> tuple[str, str, str]:
    """The subject (on one line), text and HTML of notifications/emails/<name>_{subject.txt,
    body.txt,body.html}."""
    base = f"notifications/emails/{name}"
    return (" ".join(render(f"{base}_subject.txt", context).split()),
            render(f"{base}_body.txt", context), render(f"{base}_body.html", context))


def sender() -> str:
    """'Keyturn <keyturn@example.com>': the name from KEYTURN_EMAIL_FROM_NAME, the address
    from DEFAULT_FROM_EMAIL."""
    address = parseaddr(settings.DEFAULT_FROM_EMAIL)[1] or settings.DEFAULT_FROM_EMAIL
    return formataddr((settings.KEYTURN_EMAIL_FROM_NAME, address)) if (
        settings.KEYTURN_EMAIL_FROM_NAME) else address


def reply_to(credential: Credential) -> list[str]:
    """KEYTURN_EMAIL_REPLY_TO, or else the business unit's contacts: people at the
    organization who can answer, never Keyturn's own address."""
    return list(settings.KEYTURN_EMAIL_REPLY_TO) or credential.business_unit.contact_email_list


def message(*, to: str, subject: str, text: str, html: str, opt_out_url: str,
            reply_to: list[str]) -> EmailMultiAlternatives:
    email = EmailMultiAlternatives(
        subject=subject, body=text, from_email=sender(), to=[to], reply_to=reply_to,
        headers={"List-Unsubscribe": f"<{opt_out_url}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "Auto-Submitted": "auto-generated"},
    )
    email.attach_alternative(html, "text/html")
    return email


# Stands for a member's own opt-out link while the members' message is rendered once; each
# member's copy gets theirs in its place (a signed token: letters, digits, ':', '_' and '-',
# which neither plain text nor HTML escaping changes).
OPT_OUT_MARK = "https://opt-out.invalid/keyturn-member-opt-out-mark"


def notification_messages(notification: Notification, *, member_template: str,
                          member_context: dict[str, object], member_recipients: list[str],
                          contacts: list[PartnerContact], new_ready: bool
                          ) -> list[EmailMultiAlternatives]:
    """Every message of one notification: one per member address (the portal's wording and
    deep link, rendered once), then one per partner `contacts` (partners.selectors
    .contacts_to_email_many: those who have not opted out). `new_ready`: a new version is
    pending (made by an automatic or scheduled rotation). The sweep reads both for its whole
    batch; building the messages asks the database nothing."""
    credential = notification.credential
    unit = credential.business_unit
    answers = reply_to(credential)
    messages = []
    if member_recipients:
        subject, text, html = email_parts(member_template,
                                          {**member_context, "opt_out_url": OPT_OUT_MARK})
        for address in member_recipients:
            opt_out = member_opt_out_url(unit, address)
            messages.append(message(
                to=address, subject=subject, text=text.replace(OPT_OUT_MARK, opt_out),
                html=html.replace(OPT_OUT_MARK, opt_out), opt_out_url=opt_out, reply_to=answers,
            ))
    for contact in contacts:
        context = partner_context(notification, contact, new_ready=new_ready)
        subject, text, html = email_parts(PARTNER_TEMPLATE, context)
        messages.append(message(to=contact.email, subject=subject, text=text, html=html,
                                opt_out_url=str(context["opt_out_url"]), reply_to=answers))
    return messages


# --- What a partner reads ----------------------------------------------------------------------


def partner_time(moment: datetime | None, time_zone: str) -> str:
    """'2 Dec 2030 09:00 CET (2 Dec 2030 08:00 UTC)' in the contact's zone; UTC alone when it
    is unknown or UTC."""
    if moment is None:
        return ""
    with timezone.override(ZoneInfo(time_zone or "UTC")):
        return format_dual(moment)


@dataclass(frozen=True)
class PartnerNotice:
    headline: str
    summary: str
    steps: list[str]


def _how_new_secret_arrives(credential: Credential, organization: str) -> str:
    if credential.kind_spec.token_client:
        return (f"Fetch the new client secret with your current client id and secret: "
                f"GET {settings.SITE_URL}/api/credentials/new (HTTP Basic). Your first token "
                f"request with the new secret makes it the only one that works.")
    return (f"{organization} sends the new credentials to you by a one-time secure link "
            f"(never in a plain email); ask them for it if you have not had it.")


def _notice(notification: Notification, contact: PartnerContact, thing: str,
            organization: str, new_ready: bool) -> PartnerNotice:
    credential = notification.credential
    zone = contact.time_zone
    milestone = notification.milestone
    if milestone == Milestone.ROTATION_FAILED:
        return PartnerNotice(
            f"Credential change postponed: {thing}",
            f"The planned change of the credentials you use for {thing} with {organization} "
            f"did not happen.",
            ["Nothing to do now: keep using your current credentials, they still work.",
             f"{organization} will tell you when the change is planned again."])
    if milestone == Milestone.ROTATION_COMPLETE:
        rotation = notification.rotation
        previous = rotation.from_version if rotation is not None else None
        until = (previous.valid_until if previous is not None
                 and previous.state == VersionState.PREVIOUS else None)
        finished = partner_time(rotation.finished_at if rotation else None, zone)
        steps = ([f"If you have not switched yet, switch before {partner_time(until, zone)}: "
                  f"the previous credentials stop working then."] if until else
                 ["The previous credentials no longer work. If your connection fails, "
                  "switch to the new ones now."])
        steps.append(_how_new_secret_arrives(credential, organization))
        return PartnerNotice(f"New credentials in use: {thing}",
                             f"The new credentials for {thing} with {organization} are in "
                             f"use since {finished}.", steps)
    version = notification.version
    deadline = partner_time(version.valid_until if version else None, zone)
    prefix = {Milestone.DAY_14: "Reminder: ", Milestone.DAY_7: "Urgent: ",
              Milestone.DAY_1: "Last day: "}.get(milestone, "")
    if new_ready:
        return PartnerNotice(
            f"{prefix}New credentials ready: {thing}",
            f"{organization} has new credentials ready for {thing}. They work now, "
            f"alongside your current ones, which stop working on {deadline}.",
            [_how_new_secret_arrives(credential, organization),
             f"Switch to the new credentials before {deadline}, and make one test "
             f"connection with them.",
             f"After {deadline} the current credentials stop working."])
    return PartnerNotice(
        f"{prefix}Credentials change before {deadline}: {thing}",
        f"The credentials you use for {thing} with {organization} expire on {deadline}.",
        [f"{organization} will send you new credentials before then by a one-time secure "
         f"link (never in a plain email).",
         f"Switch to them as soon as you have them, before {deadline}.",
         f"After {deadline} the current credentials stop working."])


def partner_context(notification: Notification, contact: PartnerContact, *,
                    new_ready: bool) -> dict[str, object]:
    """`new_ready`: a new version is pending (made by an automatic or scheduled rotation)."""
    credential = notification.credential
    organization = credential.business_unit.organization.name
    thing = f"“{contact.connection.name}”" if contact.connection_id else f"“{credential.name}”"
    notice = _notice(notification, contact, thing, organization, new_ready)
    return {
        "contact": contact, "organization_name": organization, "notice": notice,
        "time_zone": contact.time_zone or "UTC", "opt_out_url": partner_opt_out_url(contact),
        "reply_to": reply_to(credential),
    }

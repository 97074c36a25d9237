"""credentials.forms.CredentialFilterForm: a list's GET parameters, each kept when it names one
of its choices (the units: the organization's) and dropped otherwise, form after form (its
choices are functions of fixed lists, which no form may change for the next)."""

from django.http import QueryDict

from credentials.forms import CredentialFilterForm
from credentials.selectors import organization_units

VALID = "q=+billing+&status=expired&kind=sftp_key&family=api&unit=finance&sort=-expiry"


def test_it_keeps_each_parameter_that_names_one_of_its_choices(acme):
    form = CredentialFilterForm(QueryDict(VALID), units=organization_units(acme))
    assert form.values() == {"q": "billing", "status": "expired", "kind": "sftp_key",
                             "family": "api", "unit": "finance", "sort": "-expiry"}
    assert form.units["finance"].slug == "finance"


def test_it_drops_each_parameter_that_names_none_of_them(acme, globex):
    units = organization_units(acme)
    for _ in range(2):
        form = CredentialFilterForm(QueryDict(
            "status=bogus&kind=nope&family=sftp&unit=operations&sort=?&q=" + "x" * 201),
            units=units)
        assert form.values() == {"family": "sftp"}  # operations is globex's unit
        form.fields["status"].choices = [("bogus", "Bogus")]  # this form's own, not the next's
    assert CredentialFilterForm(QueryDict("unit=operations"),
                                units=organization_units(globex)).values()["unit"] == "operations"
    assert CredentialFilterForm(QueryDict("status=active"), units=units).values() == {
        "q": "", "status": "active", "kind": "", "family": "", "unit": "", "sort": ""}

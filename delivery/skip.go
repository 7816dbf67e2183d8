package delivery

import "github.com/crierhq/crier/consent"

// SkipReason says why a recipient of a run gets no message: the skip_reason of a skipped
// (or cancelled) delivery. The launch records the reasons it decides in SQL (campaigns'
// launchDeliveries spells them, a test checks it), the claim and the workers the ones
// found at send time; every reason is one of these constants.
type SkipReason string

// The skip reasons. The launch records, in this order, the first that applies:
// SkipExcludedTag (the marketer's own choice); then eligibility, decided by consent's
// contact_eligibility (SkipInvalidPhone, SkipSuppressed, SkipNoConsent, SkipWithdrawn: no
// consent, no message); then SkipFrequencyCapped, then SkipLocalTimePassed. The others are
// found later.
const (
	// SkipExcludedTag: the contact matched the audience but has an excluded tag.
	SkipExcludedTag SkipReason = "excluded_tag"
	// SkipInvalidPhone: the contact has no keyed phone hash to check the suppression list with.
	SkipInvalidPhone = SkipReason(consent.ExcludedInvalidPhone)
	// SkipSuppressed: the contact's number is on the suppression list.
	SkipSuppressed = SkipReason(consent.ExcludedSuppressed)
	// SkipNoConsent: the contact never gave consent for the purpose.
	SkipNoConsent = SkipReason(consent.ExcludedNoConsent)
	// SkipWithdrawn: the contact withdrew consent for the purpose.
	SkipWithdrawn = SkipReason(consent.ExcludedWithdrawn)
	// SkipFrequencyCapped: the contact got the cap's number of marketing messages in the
	// window (at launch, or again by the claim at send time).
	SkipFrequencyCapped SkipReason = "frequency_capped"
	// SkipLocalTimePassed: a local-time campaign set to skip recipients whose time has passed.
	SkipLocalTimePassed SkipReason = "local_time_passed"
	// SkipOptedOut: the contact opted out after launch (cancelled at once, or re-checked at
	// send time).
	SkipOptedOut SkipReason = "opted_out"
	// SkipCampaignCancelled: the campaign was cancelled before the message was sent.
	SkipCampaignCancelled SkipReason = "campaign_cancelled"
	// SkipNoAccount: none of the campaign's accounts can send any more.
	SkipNoAccount SkipReason = "no_account"
	// SkipContactErased: the contact was deleted or erased after launch (the claim finds no
	// contact).
	SkipContactErased SkipReason = "contact_erased"
	// SkipRenderFailed: the template could not be rendered for this contact.
	SkipRenderFailed SkipReason = "render_failed"
)

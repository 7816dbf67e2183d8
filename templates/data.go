package templates

import (
	"maps"
	"strings"
)

// Data is what one message is rendered with. Its fields are the Liquid variables of the same
// (JSON) names, so its JSON form is also the "variables" object of the preview API. The
// contact's phone number is deliberately not a variable: no message needs to repeat it, and
// keeping it out keeps it out of previews and message text.
type Data struct {
	Name string `json:"name"`
	// FirstName is derived from Name (its first word) when empty.
	FirstName  string         `json:"first_name"`
	Email      string         `json:"email"`
	Locale     string         `json:"locale"`
	Country    string         `json:"country"`
	Timezone   string         `json:"timezone"`
	Tags       []string       `json:"tags"`
	Attributes map[string]any `json:"attributes"`
	Campaign   Campaign       `json:"campaign"`
}

// Campaign is the campaign's part of Data, the Liquid variable campaign.
type Campaign struct {
	Name string `json:"name"`
}

// contactVariables are the top-level variables from the contact; attributes is free-form.
var contactVariables = []string{"name", "first_name", "email", "locale", "country", "timezone", "tags", "attributes"}

// campaignVariables are the fields of campaign.
var campaignVariables = []string{"name"}

// Variables returns the names of the variables templates may use, as a user would write them;
// attributes.<key> stands for any attribute.
func Variables() []string {
	out := make([]string, 0, len(contactVariables)+len(campaignVariables))
	for _, v := range contactVariables {
		if v == "attributes" {
			v = "attributes.<key>"
		}
		out = append(out, v)
	}
	for _, v := range campaignVariables {
		out = append(out, "campaign."+v)
	}
	return out
}

// vars returns the Liquid bindings for d.
func (d Data) vars() map[string]any {
	first := d.FirstName
	if first == "" {
		first = firstName(d.Name)
	}
	tags := d.Tags
	if tags == nil {
		tags = []string{}
	}
	attributes := maps.Clone(d.Attributes)
	if attributes == nil {
		attributes = map[string]any{}
	}
	return map[string]any{
		"name":       d.Name,
		"first_name": first,
		"email":      d.Email,
		"locale":     d.Locale,
		"country":    d.Country,
		"timezone":   d.Timezone,
		"tags":       tags,
		"attributes": attributes,
		"campaign":   map[string]any{"name": d.Campaign.Name},
	}
}

// firstName is the first word of a name ("Ana María López" → "Ana"); a name written without
// spaces, as Chinese names usually are, is its own first name.
func firstName(name string) string {
	if f := strings.Fields(name); len(f) > 0 {
		return f[0]
	}
	return ""
}

// sampleData returns the data validation renders with: values as long as real ones plausibly
// get, so that a template that fits with them fits for nearly every contact. Attribute values
// are digits, which Liquid also accepts where a number is expected.
func sampleData(attributeKeys []string) Data {
	attributes := make(map[string]any, len(attributeKeys))
	for _, k := range attributeKeys {
		attributes[k] = strings.Repeat("1234567890", 4)
	}
	return Data{
		Name:       "Maximiliana Alexandra Wolfeschlegelstein-Hausenberg", // 51 characters
		FirstName:  "Maximiliana-Alexandra",
		Email:      "maximiliana.alexandra.wolfeschlegelstein@example.com",
		Locale:     "zh-Hant-TW",
		Country:    "TW",
		Timezone:   "America/Argentina/ComodRivadavia",
		Tags:       []string{"vip", "newsletter", "early-adopter", "loyalty-gold"},
		Attributes: attributes,
		Campaign:   Campaign{Name: strings.Repeat("Summer sale ", 5)[:60]},
	}
}

package contacts

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/crierhq/crier/privacy"
)

// PrivacyHolder exports and erases the contact record itself. It deletes the contact, so
// it goes last among the holders.
func (s *Service) PrivacyHolder() privacy.Holder { return contactHolder{} }

type contactHolder struct{}

func (contactHolder) Name() string { return "contact" }

type contactExport struct {
	ID         int64          `json:"id"`
	Phone      string         `json:"phone"`
	Name       string         `json:"name"`
	Email      string         `json:"email"`
	Locale     string         `json:"locale"`
	Timezone   string         `json:"timezone"`
	Country    string         `json:"country"`
	Tags       []string       `json:"tags"`
	Attributes map[string]any `json:"attributes"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
}

func (contactHolder) Export(ctx context.Context, tx pgx.Tx, subj privacy.Subject) (any, error) {
	c, err := scanContact(tx.QueryRow(ctx, `SELECT `+contactColumns+` FROM contacts WHERE id = $1`, subj.ContactID))
	if err != nil {
		return nil, fmt.Errorf("contacts: export %d: %w", subj.ContactID, err)
	}
	return contactExport{ID: c.ID, Phone: c.Phone, Name: c.Name, Email: c.Email, Locale: c.Locale, Timezone: c.Timezone,
		Country: c.Country, Tags: c.Tags, Attributes: c.Attributes, CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC()}, nil
}

func (contactHolder) Erase(ctx context.Context, tx pgx.Tx, subj privacy.Subject) error {
	if _, err := tx.Exec(ctx, `DELETE FROM contacts WHERE id = $1`, subj.ContactID); err != nil {
		return fmt.Errorf("contacts: erase %d: %w", subj.ContactID, err)
	}
	return nil
}

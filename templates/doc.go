// Package templates owns Crier's message templates: their shape (a name, a category and one
// or more locales, each with weighted variants and an opt-out footer), their validation when
// they are saved, and turning one of them into the text of one message.
//
// A message is made in four steps, each in its own file:
//
//   - locale.go: the template locale for the contact, by a fallback chain
//     (zh-Hant-TW → zh-Hant → zh → a locale of the same language → the template's first locale);
//   - variant.go: the variant, by weight, from the delivery's seed, rotating so that one account
//     does not send the same variant twice in a row;
//   - spintax.go: the variant body's spintax ({Hi|Hello|Hey}) resolved from the same seed, so a
//     retried send renders the same words;
//   - render.go: the resulting Liquid source rendered with the contact's and the campaign's
//     fields (data.go) in a sandbox (sandbox.go), then the opt-out footer (footer.go) appended.
//
// cloud.go binds a locale to a message template that Meta approved for the WhatsApp Cloud API:
// the locale's variant and footer are then derived from Meta's text, and RenderCloud gives the
// template's name, language and rendered parameters for the transport.
//
// validate.go checks a template once, when it is saved, so that sending never meets a
// template error it could have caught earlier; preview.go shows what the variants look like.
//
// store.go keeps templates in PostgreSQL, and only what Normalize accepted. The rest of the
// package is pure: it must never touch a database, the network, the file system, an HTTP
// request or an Asynq task, never log (message text is personal data), and never render a
// marketing message without an opt-out footer. Liquid comes from github.com/osteele/liquid,
// with the tags that read files or buffer output outside the size limit disabled.
package templates

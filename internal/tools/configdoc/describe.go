package main

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// goName matches an identifier, or Type.Field, in a doc comment.
var goName = regexp.MustCompile(`[A-Za-z][A-Za-z0-9]*(?:\.[A-Z][A-Za-z0-9]*)?`)

// describe turns a doc comment into one line of Markdown for a table
// cell. Doc comments name fields by their Go names, which a YAML author
// never writes, so those become the YAML names; a string constant becomes
// its value. owners are the struct types whose fields the comment may
// name, innermost first; self is the Go name of the field the comment
// documents, "" for a type's comment.
func (s *schema) describe(text string, owners []string, self string) string {
	text = oneLine(text)
	var b strings.Builder
	for i, part := range strings.Split(text, "`") {
		if i > 0 {
			b.WriteByte('`')
		}
		if i%2 == 1 {
			// Inside a code span the text is already literal.
			b.WriteString(part)
			continue
		}
		last := 0
		for _, m := range goName.FindAllStringIndex(part, -1) {
			word := part[m[0]:m[1]]
			lead := i == 0 && m[0] == 0 && word == self
			b.WriteString(part[last:m[0]])
			b.WriteString(s.rename(word, owners, lead))
			last = m[1]
		}
		b.WriteString(part[last:])
	}
	return escapeCell(b.String())
}

// plainWords are field names that comments also use as ordinary words:
// "a Consul catalog", "the Host header". Such a word, and a name in
// capitals such as TLS, is renamed only where it leads the comment of its
// own field.
var plainWords = map[string]bool{
	"Consul": true, "Prometheus": true, "Kubernetes": true, "Envoy": true, "Host": true,
}

// rename returns the YAML spelling of word: a field of one of owners,
// Type.Field, or a string constant; other words stay as they are.
func (s *schema) rename(word string, owners []string, lead bool) string {
	if typ, fld, ok := strings.Cut(word, "."); ok {
		if y, ok := s.yamlFields(typ)[fld]; ok {
			return "`" + y + "`"
		}
		return word
	}
	plain := plainWords[word] || word == strings.ToUpper(word)
	for _, owner := range owners {
		if y, ok := s.yamlFields(owner)[word]; ok && (lead || !plain) {
			return "`" + y + "`"
		}
	}
	if v, ok := s.consts[word]; ok && word != strings.ToUpper(word) {
		return "`" + v + "`"
	}
	return word
}

// oneLine joins the lines of a comment and collapses its white space.
func oneLine(text string) string {
	return strings.Join(strings.Fields(text), " ")
}

// escapeCell makes text safe inside a Markdown table cell: a "|" would end
// the cell even inside a code span, and outside code spans "<" could open
// an HTML tag, "*" and a "_" at a word's edge emphasis.
func escapeCell(text string) string {
	var b strings.Builder
	inCode := false
	for i, r := range text {
		switch {
		case r == '`':
			inCode = !inCode
		case r == '|':
			b.WriteByte('\\')
		case inCode:
		case r == '<' || r == '*':
			b.WriteByte('\\')
		case r == '_' && !intraword(text, i):
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// intraword reports whether the byte at i has a letter or digit on both
// sides, where Markdown never reads "_" as emphasis.
func intraword(text string, i int) bool {
	before, _ := utf8.DecodeLastRuneInString(text[:i])
	after, _ := utf8.DecodeRuneInString(text[i+1:])
	alnum := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	return i > 0 && i+1 < len(text) && alnum(before) && alnum(after)
}

"""Word and LibreOffice: the .docx grid reader, symbols, list numbering, fonts and the PDF conversion. Imports only mailer.common."""

"""Reading the files people attach: sniffing, text extraction, PDFs, images (``prepare``)."""

"""Provider adapters: each speaks one provider's API in OpenAI's wire format."""

"""The article's handler (``lambda_code/main.py``), as it was published: a lesson, not a pattern.

Notebook 05 runs it on the same queue, topic and mapping as :mod:`main` to show its two flaws:

- it catches every exception and returns a success, so Lambda deletes the whole batch: a
  record that cannot be processed is never retried and can never reach the dead-letter queue
  (and one bad record ends the loop, so the records after it in the batch are dropped too);
- it reads ``Subject`` from the notification's JSON ``Message``, but SNS puts ``Subject`` on the
  envelope (the SQS record's body), so every subject comes out as "No Subject".

Only the indentation (lost in the article's page) is restored, and the SES call stays commented
out as in the article; :mod:`main` is the fixed handler. Do not copy this one.
"""

import json
import logging
import os

# Configure logging
logger = logging.getLogger()
logger.setLevel(os.environ.get('LOG_LEVEL', 'INFO'))


def handler(event, context):
    """
    Lambda function to process messages from an SQS queue.
    It expects SNS messages forwarded to SQS, then processes them.
    """
    logger.info(f"Received event: {json.dumps(event, indent=2)}")
    admin_email = os.environ.get('ADMIN_EMAIL')
    if not admin_email:
        logger.error("ADMIN_EMAIL environment variable not set.")
        return {'statusCode': 500, 'body': 'Configuration error'}
    messages_processed = 0
    try:
        for record in event['Records']:
            # SQS messages contain the SNS message in the 'body' field
            sqs_body = json.loads(record['body'])
            # The actual SNS message content is in the 'Message' field
            sns_message = json.loads(sqs_body['Message'])
            subject = sns_message.get('Subject', 'No Subject')
            message_text = sns_message.get('Message', 'No Message Content')
            event_source = sns_message.get('EventSource', 'Unknown')
            logger.info(f"Processing critical event from {event_source}:")
            logger.info(f"Subject: {subject}")
            logger.info(f"Message: {message_text}")
            # --- Simulate sending an email notification ---
            # In a real-world scenario, you would use AWS SES (Simple Email Service) here.
            # Example using boto3 for SES:
            # import boto3
            # ses_client = boto3.client('ses', region_name=os.environ.get('AWS_REGION'))
            # ses_client.send_email(
            # Source='sender@example.com', # Must be verified in SES
            # Destination={'ToAddresses': [admin_email]},
            # Message={
            # 'Subject': {'Data': f'[CRITICAL ALERT] {subject}'},
            # 'Body': {'Text': {'Data': f'Event Source: {event_source}\n\n{message_text}'}}
            # }
            # )
            # logger.info(f"Email sent to {admin_email} for event: {subject}")
            # --- End Simulation ---
            logger.info(f"Simulated email notification sent to {admin_email} for event: {subject}")
            messages_processed += 1
    except json.JSONDecodeError as e:
        logger.error(f"Error decoding JSON: {e} - Raw message body: {record['body']}")
        # Potentially move to DLQ if this is a consistent parsing error
    except Exception as e:  # the article's flaw, kept: it swallows every failure
        logger.error(f"Error processing message: {e}", exc_info=True)
        # SQS will automatically retry if the Lambda errors out.
    return {
        'statusCode': 200,
        'body': f'Successfully processed {messages_processed} messages.'
    }
